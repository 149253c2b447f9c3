"""The exported `tools`-format agent served as a tool-calling endpoint: its GGUF carries the chat template it was
trained with, `llama-server --jinja` renders the tools with it and parses the agent's `<tool_call>` blocks back into
OpenAI `tool_calls`, and the Modelfiles and model card say how to serve it."""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from storage import Store
from studio.llm.chat_template import gemma3_tools
from studio.stages.export import export_agent

pytestmark = pytest.mark.slow

SEARCH = {"type": "function", "function": {
    "name": "search", "description": "Search Wikipedia; returns the first passages of the best matching article.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "what to look up"}},
                   "required": ["query"], "additionalProperties": False}}}
SYSTEM = {"role": "system", "content": "Answer the question."}
# one earlier exchange in the conversation shows the call format, as a multi-turn chat would
EARLIER = [
    {"role": "user", "content": "Who directed Jaws?"},
    {"role": "assistant", "content": "I need the film's director.", "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": "search", "arguments": '{"query": "Jaws film"}'}}]},
    {"role": "tool", "tool_call_id": "call_0", "name": "search", "content": "Jaws is a 1975 film by Steven Spielberg."},
    {"role": "assistant", "content": "Answer: Steven Spielberg"},
]
QUESTION = {"role": "user", "content": "Which country is the Eiffel Tower in?"}


@pytest.fixture(scope="module")
def exported(trained_tools_agent, tmp_path_factory):
    """The tools agent exported as GGUF once for the module (the folder)."""
    recipe, db = trained_tools_agent
    tmp = tmp_path_factory.mktemp("tool-endpoint")
    shutil.copyfile(db, tmp / "agent.duckdb")
    with Store(tmp / "agent.duckdb") as store:
        result = export_agent(recipe, store, "gguf", tmp / "out", "q8_0")
    assert result.serving[0] == "llama-server --jinja -m tools-agent-q8_0.gguf"  # what the test below serves
    return tmp / "out"


def _chat_template(path) -> str:
    from gguf import GGUFReader

    return GGUFReader(path).get_field("tokenizer.chat_template").contents()


def test_gguf_export_carries_the_agents_chat_template(exported):
    template = gemma3_tools().source
    assert (exported / "chat_template.jinja").read_text() == template
    merged, base = exported / "tools-agent-q8_0.gguf", exported / "base-gemma-3-270m-q4_k_m.gguf"
    assert _chat_template(merged) == template and _chat_template(base) == template

    for name, weights in (("Modelfile", [f"FROM ./{base.name}", "ADAPTER ./tools-agent-lora-f32.gguf"]),
                          ("Modelfile.merged", [f"FROM ./{merged.name}"])):
        lines = (exported / name).read_text().splitlines()
        assert all(line in lines for line in weights), lines
        assert [line for line in lines if line.startswith("PARAMETER stop")] == [
            'PARAMETER stop "<end_of_turn>"', 'PARAMETER stop "<eos>"']
        text = "\n".join(lines)
        # Ollama finds the call tag as the first text inside `if .ToolCalls`
        assert "{{- if .ToolCalls }}\n{{- range .ToolCalls }}\n<tool_call>\n" in text
        assert '{"name": "{{ .Function.Name }}", "arguments": {{ json .Function.Arguments }}}' in text
        assert "<tool_response>" in text and "Question:" not in text

    card = (exported / "README.md").read_text()
    assert f"llama-server --jinja -m {merged.name}" in card and "ollama create agent -f Modelfile.merged" in card
    assert "Answer the question." in card and "Observation:" not in card


def test_peft_and_merged_exports_save_the_template_with_the_tokenizer(trained_tools_agent, tmp_path):
    from transformers import AutoTokenizer

    recipe, db = trained_tools_agent
    shutil.copyfile(db, tmp_path / "agent.duckdb")
    template = gemma3_tools().source
    with Store(tmp_path / "agent.duckdb") as store:
        for fmt, folder in (("peft", "adapter"), ("merged", "model")):
            result = export_agent(recipe, store, fmt, tmp_path / fmt)
            assert result.files == [f"{folder}/", "chat_template.jinja", "recipe.yaml", "README.md"]
            assert (tmp_path / fmt / "chat_template.jinja").read_text() == template
            assert AutoTokenizer.from_pretrained(tmp_path / fmt / folder).chat_template == template
            served = " --enable-auto-tool-choice --tool-call-parser hermes --chat-template chat_template.jinja"
            assert result.serving == [{"peft": "vllm serve google/gemma-3-270m --enable-lora --lora-modules "
                                                "tools-agent=adapter", "merged": "vllm serve model"}[fmt] + served]
    card = (tmp_path / "merged" / "README.md").read_text()
    assert ("vllm serve model --enable-auto-tool-choice --tool-call-parser hermes --chat-template "
            "chat_template.jinja") in card


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())


def test_llama_server_serves_the_exported_agent_with_tools(exported):
    import jsonschema
    from openai import OpenAI

    from studio.llm.llama_cpp import llama_server

    messages = [SYSTEM, *EARLIER, QUESTION]
    with llama_server(exported / "tools-agent-q8_0.gguf", parallel=1, ctx_per_slot=2048, jinja=True) as server:
        # the GGUF's template is the one the server renders: our tool instructions, the tool list, earlier calls
        prompt = _post(f"http://{server.host}:{server.port}/apply-template", {"messages": messages,
                                                                             "tools": [SEARCH]})["prompt"]
        assert prompt.startswith("<start_of_turn>user\nAnswer the question.\n\nYou may call one or more functions")
        assert json.dumps(SEARCH) in prompt and "write <tool_call>{\"name\": <function-name>" in prompt
        assert '<tool_call>\n{"name": "search", "arguments": {"query": "Jaws film"}}\n</tool_call>' in prompt
        assert prompt.endswith(f"{QUESTION['content']}<end_of_turn>\n<start_of_turn>model\n")

        # `required`: the server constrains the reply to the template's call format, and parses the call back
        client = OpenAI(base_url=server.base_url, api_key="none")
        reply = client.chat.completions.create(model="agent", messages=messages, tools=[SEARCH],
                                               tool_choice="required", temperature=0, max_tokens=160)
    message = reply.choices[0].message
    assert message.tool_calls, (reply.choices[0].finish_reason, message.content)
    for call in message.tool_calls:
        assert call.type == "function" and call.function.name == "search"
        jsonschema.validate(json.loads(call.function.arguments), SEARCH["function"]["parameters"])
    assert "<tool_call>" not in (message.content or "")


@pytest.mark.parametrize("engine", ["llama.cpp", "transformers"])
def test_the_fine_tuned_tools_agent_is_evaluated_on_each_engine(trained_tools_agent, tmp_path, engine):
    """The evaluation renders the agent's template on the engine, completes it as text and reads its calls back:
    each episode is stored as its conversation (its calls answered by the search's results) with the tools offered."""
    from studio.stages.evaluate import evaluate

    recipe, db = trained_tools_agent
    shutil.copyfile(db, tmp_path / "agent.duckdb")
    recipe = recipe.model_copy(update={"evaluation": recipe.evaluation.model_copy(update={  # its sets are the train's
        "max_steps": 2, "max_tokens": 96, "engine": recipe.evaluation.engine.model_copy(update={"name": engine,
                                                                                               "parallel": 20})})})
    with Store(tmp_path / "agent.duckdb") as store:
        result = evaluate(recipe, store)
        episodes = store.trajectories(result.run_id)
    assert result.ran == 20 and not [e["error"] for e in episodes if e["error"]]
    for ep in episodes:
        assert ep["format"] == "tools" and ep["offered_tools"][0]["function"]["name"] == "search"
        roles = [m["role"] for m in ep["messages"]]
        assert roles[:3] == ["system", "user", "assistant"] and roles[-1] == "assistant"
        for i, message in enumerate(ep["messages"]):
            for call in message.get("tool_calls") or ():  # every call is answered, by id, right after its turn
                answers = [m for m in ep["messages"][i + 1:] if m.get("tool_call_id") == call["id"]]
                assert len(answers) == 1 and answers[0]["content"]
        assert ep["prediction"] is not None
