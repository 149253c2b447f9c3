"""Training through the chat template: `tools`-format masks (assistant turns only), `react` under `prompt_format:
chat`, the rows the worker reads, one tiny training run whose adapter carries its template, and preview-mask."""

import json

import pytest

from studio.llm.chat_template import ChatTemplate, ChatTemplateError, chat_prefix, gemma3_tools, tokenizer_template
from studio.recipe.schema import Recipe
from studio.tools.tool import SEARCH, ToolSpec
from studio.train.chat_masking import assistant_spans, tokenize_chat, tokenize_react_chat
from studio.train.examples import example_row
from studio.trajectories.episode import Episode
from studio.trajectories.messages import AGENT_SYSTEM, steps_from_messages, tool_call
from tests.support.training import QUESTION, TRAJECTORY, trained_text

CALCULATOR = ToolSpec("calculator", "evaluates an arithmetic expression.",
                      {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]})
TOOLS = [CALCULATOR.function(), SEARCH.function()]
MESSAGES = [
    {"role": "system", "content": AGENT_SYSTEM},
    {"role": "user", "content": "What is 17*3, and where was Ed Wood born?"},
    {"role": "assistant", "content": "I need both facts.", "tool_calls": [
        tool_call("c1", "calculator", {"expression": "17*3"}), tool_call("c2", "search", {"query": "Ed Wood"})]},
    {"role": "tool", "tool_call_id": "c1", "name": "calculator", "content": "fifty-one"},
    {"role": "tool", "tool_call_id": "c2", "name": "search", "content": "Ed Wood was born in Poughkeepsie."},
    {"role": "assistant", "content": "Both found.\nAnswer: 51, Poughkeepsie"},
]


def test_tools_mask_covers_exactly_the_assistant_turns(tokenizer):
    template = gemma3_tools()
    example = tokenize_chat(tokenizer, template, MESSAGES, TOOLS, 1024)
    trained = trained_text(tokenizer, example)
    text, spans = assistant_spans(template, MESSAGES, TOOLS)
    assert trained == "".join(text[a:b] for a, b in spans)  # nothing more, nothing less
    assert '<tool_call>\n{"name": "calculator", "arguments": {"expression": "17*3"}}\n</tool_call>' in trained
    assert '{"name": "search", "arguments": {"query": "Ed Wood"}}' in trained  # both calls of the one turn
    assert trained.count("<end_of_turn>") == 2 and "Answer: 51, Poughkeepsie<end_of_turn>" in trained
    for context in ("fifty-one", "Poughkeepsie.", "<tool_response>", "where was Ed Wood born", "Think in your reply",
                    "<tools>", "<start_of_turn>"):
        assert context not in trained, context
    assert example.input_ids[0] == tokenizer.bos_token_id and example.input_ids[1] != tokenizer.bos_token_id


def test_tools_mask_truncates_and_loss_on_all_trains_every_token(tokenizer):
    whole = tokenize_chat(tokenizer, gemma3_tools(), MESSAGES, TOOLS, 1024, loss_on="all")
    assert whole.labels == whole.input_ids and not whole.truncated
    cut = tokenize_chat(tokenizer, gemma3_tools(), MESSAGES, TOOLS, 40)
    assert cut.truncated and len(cut.input_ids) == len(cut.labels) == 40
    assert cut.input_ids == whole.input_ids[:40]


def test_a_template_that_renders_turns_inconsistently_is_named(tokenizer):
    odd = ChatTemplate("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% if loop.last %} (last){% endif %}"
                       "\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}", name="odd.jinja")
    with pytest.raises(ChatTemplateError, match=r"odd\.jinja.*message 1 \(an assistant turn\)"):
        tokenize_chat(tokenizer, odd, [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                                       {"role": "user", "content": "more"}], None, 64)


def test_react_chat_trains_the_trajectory_turn_masked_as_plain_text(tokenizer):
    template = tokenizer_template(tokenizer, tools=False)
    assert template.name == "the model's own" and "tools" not in template.source  # Gemma's own, no tools needed
    example = tokenize_react_chat(tokenizer, template, QUESTION, TRAJECTORY, 512)
    text = tokenizer.decode(example.input_ids)
    prefix = chat_prefix(template, QUESTION)
    assert prefix == f"<bos><start_of_turn>user\nQuestion: {QUESTION}<end_of_turn>\n<start_of_turn>model\n"
    assert text == prefix + TRAJECTORY.strip() + "<end_of_turn>\n"  # the run-time prompt, continued by the agent
    trained = trained_text(tokenizer, example)
    assert "Thought: I need to search Scott Derrickson." in trained and "Action: finish[yes]" in trained
    assert trained.count("Observation:") == 2 and trained.endswith("<end_of_turn>")
    assert "American director" not in trained and "reward" not in trained and "same nationality" not in trained


def test_worker_rows_in_the_tools_format():
    """A tools-format episode trains on its own messages and tools; a ReAct one on its steps as calls to the tools of
    its run (its one-string argument under the tool's parameter); the `react` format keeps question and text."""
    stored = {"question": "q", "text": "t", "format": "tools", "messages": MESSAGES, "offered_tools": TOOLS}
    assert example_row(stored, "tools", None) == {"question": "q", "text": "t", "messages": MESSAGES, "tools": TOOLS}
    assert example_row(stored, "react", None) == {"question": "q", "text": "t"}
    steps = [{"thought": "Compute it.", "action": "calculator", "argument": "17*3", "observation": "51"},
             {"thought": "Done.", "action": "finish", "argument": "51"}]
    react = {"question": "What is 17*3?", "text": "...", "format": "react", "messages": None, "steps": steps}
    row = example_row(react, "tools", [CALCULATOR.listing()])
    assert row["tools"] == [CALCULATOR.function()]
    assert row["messages"][0] == {"role": "system", "content": AGENT_SYSTEM}
    assert row["messages"][2]["tool_calls"][0]["function"] == {"name": "calculator",
                                                               "arguments": '{"expression": "17*3"}'}
    assert row["messages"][-1] == {"role": "assistant", "content": "Done.\nAnswer: 51"}
    assert example_row(react, "tools", None)["tools"] == [SEARCH.function()]  # a run of the `tool` section alone


def _sum_episode(a: int, b: int) -> Episode:
    messages = [{"role": "system", "content": AGENT_SYSTEM}, {"role": "user", "content": f"What is {a}+{b}?"},
                {"role": "assistant", "content": "I add them.", "tool_calls": [
                    tool_call("c1", "calculator", {"expression": f"{a}+{b}"})]},
                {"role": "tool", "tool_call_id": "c1", "name": "calculator", "content": str(a + b)},
                {"role": "assistant", "content": f"Answer: {a + b}"}]
    return Episode("calculator", f"q{a}-{b}", f"What is {a}+{b}?", "react", "teacher", gold=str(a + b),
                   prediction=str(a + b), correct=True, finished=True, format="tools", messages=messages,
                   offered_tools=[CALCULATOR.function()],
                   steps=steps_from_messages(messages, {"calculator": "expression"}))


TOOLS_RECIPE = {"name": "tools-tiny", "format": "tools",
                "student": {"max_steps": 1, "batch_size": 2, "max_seq_length": 384, "learning_rate": 1e-3}}


def _tools_run(store, recipe: Recipe) -> None:
    """The recipe's generate run, as the teacher leaves it: four tools-format episodes."""
    from studio.stages.runs import open_run

    run_id, _ = open_run(store, recipe, "generate", tools=[CALCULATOR.listing()])
    store.add_episodes(run_id, [_sum_episode(a, a + 1) for a in range(4)])
    store.set_run_status(run_id, "done")


def test_tools_training_saves_the_template_with_the_adapter(store, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from studio.stages.train import run_dir_for, train

    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    recipe = Recipe.model_validate(TOOLS_RECIPE)
    _tools_run(store, recipe)
    result = train(recipe, store)
    assert result.status == "done" and result.examples == 4 and result.truncated == 0
    rows = [json.loads(line) for line in (run_dir_for(store, result.run_id) / "train.jsonl").open()]
    assert rows[0]["tools"] == [CALCULATOR.function()] and rows[0]["messages"][2]["tool_calls"]
    saved = AutoTokenizer.from_pretrained(result.adapter)
    assert saved.chat_template == gemma3_tools().source
    assert tokenizer_template(saved).source == gemma3_tools().source  # later stages and the export find it


def test_preview_mask_marks_the_assistant_turns(tmp_path, capsys, bundled_model_dir):
    from storage import Store
    from studio.cli.main import main
    from studio.recipe.io import dump_recipe

    recipe = Recipe.model_validate(TOOLS_RECIPE)
    path = tmp_path / "tools-tiny.yaml"
    path.write_text(dump_recipe(recipe))
    with Store(tmp_path / "studio.duckdb") as store:
        _tools_run(store, recipe)
    assert main(["preview-mask", str(path), "--index", "1", "--db", str(tmp_path / "studio.duckdb")]) == 0
    out = capsys.readouterr().out
    assert ('<start_of_turn>model\n[[I add them.\n<tool_call>\n{"name": "calculator", "arguments": {"expression": '
            '"1+2"}}\n</tool_call><end_of_turn>]]') in out
    assert "<tool_response>\n3\n</tool_response>" in out and "[[Answer: 3<end_of_turn>]]" in out
    assert "chat template: gemma3_tools" in out


def test_imported_react_trajectories_are_offered_the_recipes_tools(store):
    """An import stores no tool list: in the `tools` format its ReAct rows call the recipe's tools (the calculator's
    schema from its MCP server), not the search."""
    from studio.recipe.io import load_recipe
    from studio.stages.training_data import training_preview_rows, worker_rows

    recipe = load_recipe("recipes/calculator_tools.yaml")
    row = worker_rows(recipe, store, training_preview_rows(recipe, store)[:1])[0]
    assert [t["function"]["name"] for t in row["tools"]] == ["calculate"]
    call = row["messages"][2]["tool_calls"][0]["function"]
    assert call["name"] == "calculate" and list(json.loads(call["arguments"])) == ["expression"]


def test_the_training_worker_reads_stored_tools_without_the_toolbox_the_store_or_mcp():
    """The worker (`python -m studio.train`) turns rows into examples from the light tool specs alone."""
    import subprocess
    import sys
    from pathlib import Path

    import studio

    heavy = ["duckdb", "mcp", "mcp_types", "storage", "studio.tools.toolbox", "studio.tools.mcp_hub"]
    code = ("import sys, studio.train.worker, studio.train.examples; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=Path(studio.__file__).parent.parent)
    assert found.stdout.strip() == "[]"
