"""The `tools` format's agent loop: the teacher over the OpenAI wire protocol with native `tool_calls` (the scripted
server) and the real calculator MCP server; a student through its chat template (a scripted completion model, to
pin what the template renders and what the parser reads); malformed calls; the methods' turns."""

from __future__ import annotations

import json

from studio.agents.loop import AgentSpec
from studio.agents.tool_prompts import LAST_STEP, tools_prompt
from studio.agents.tool_step import ToolCallRunner
from studio.llm.chat_template import gemma3_tools
from studio.llm.template_chat import TemplateChat
from studio.outcomes import outcome
from studio.recipe.schema import Recipe
from studio.stages.generate import generate
from studio.tasks import Question
from studio.tools.toolbox import search_toolbox
from studio.trajectories.messages import AGENT_SYSTEM
from tests.support.openai_server import Call, Reply, wire_call
from tests.support.scripted_model import Scripted

NO_KEY_ENV = "STUDIO_TEST_UNSET_KEY"
Q = Question("q1", "hotpotqa", "dev", "Where was the author of Dune born?", "Tacoma")


def calculator_recipe(url: str, **extra) -> Recipe:
    return Recipe(**{"name": "tools-teacher", "format": "tools", "tools": [{"mcp": "calculator"}],
                     "tasks": [{"task": "arithmetic", "split": "train", "n": 2, "seed": 1}],
                     "teacher": {"base_url": url, "api_key_env": NO_KEY_ENV, "timeout_s": 5, "max_retries": 1,
                                 "few_shot_k": 0, "max_steps": 4},
                     "evaluation": {"sets": [{"task": "arithmetic", "split": "test", "n": 1}]}, **extra})


def test_the_teacher_calls_tools_natively_and_the_episode_is_stored_as_its_messages(serve, store, monkeypatch):
    """Turn 1: a call to the real calculator; turn 2: the answer from its result. The requests carry `tools` and
    `tool_choice`, the second the result as `role: tool` with the call's id; the stored episode is its conversation."""
    monkeypatch.delenv(NO_KEY_ENV, raising=False)

    def script(call: Call) -> Reply:
        last = call.payload["messages"][-1]
        if last["role"] == "user":
            return Reply(text="I will compute it.", tool_calls=[wire_call("calculate", {"expression": "6 * 7"})])
        return Reply(text=f"The calculator says {last['content']}.\nAnswer: {last['content']}")

    server = serve(script)
    result = generate(calculator_recipe(server.url), store)
    assert result.ok and result.ran == 2
    episodes = store.trajectories(result.run_id)
    assert len(episodes) == 2
    for ep in episodes:
        assert ep["format"] == "tools" and ep["prediction"] == "42"
        roles = [m["role"] for m in ep["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant"]
        assert ep["messages"][0]["content"] == AGENT_SYSTEM
        call = ep["messages"][2]["tool_calls"][0]
        assert ep["messages"][3]["tool_call_id"] == call["id"] and ep["messages"][3]["content"] == "42"
        assert [s["action"] for s in ep["steps"]] == ["calculate", "finish"]
        assert ep["steps"][0]["thought"] == "I will compute it." and ep["steps"][0]["observation"] == "42"
        assert ep["offered_tools"][0]["function"]["name"] == "calculate"
    first = server.calls[0].payload
    assert first["tools"][0]["function"]["name"] == "calculate" and first["tool_choice"] == "auto"
    second = next(c.payload for c in server.calls if c.payload["messages"][-1]["role"] == "tool")
    sent = second["messages"][-1]
    assert sent["tool_call_id"] == second["messages"][-2]["tool_calls"][0]["id"]


def test_malformed_calls_are_answered_as_invalid_calls_and_counted(serve, store, monkeypatch):
    """Bad JSON arguments, an unknown tool and a call beside a good one, in one turn: each call gets its own answer
    (the good one the calculator's), the agent goes on, and the episode's outcome says `invalid call`."""
    monkeypatch.delenv(NO_KEY_ENV, raising=False)

    def script(call: Call) -> Reply:
        if call.payload["messages"][-1]["role"] == "user":
            return Reply(tool_calls=[wire_call("calculate", '{"expression": "1 +'), wire_call("weather", {"city": "X"}),
                                     wire_call("calculate", {"expression": "2 + 2"})])
        return Reply(text="Answer: 4")

    result = generate(calculator_recipe(serve(script).url, data={"correct_only": False}), store)
    ep = store.trajectories(result.run_id)[0]
    tool_messages = [m for m in ep["messages"] if m["role"] == "tool"]
    calls = ep["messages"][2]["tool_calls"]
    assert [m["tool_call_id"] for m in tool_messages] == [c["id"] for c in calls]
    assert tool_messages[0]["content"].startswith("Invalid call: the arguments of calculate are not valid JSON")
    assert "there is no tool 'weather'" in tool_messages[1]["content"]
    assert tool_messages[2]["content"] == "4"
    assert [s["status"] for s in ep["steps"][:3]] == ["invalid call", "invalid call", ""]
    assert ep["outcome"] in ("invalid call", "right")
    assert outcome_of(ep) == "invalid call"


def outcome_of(row: dict) -> str:
    """The outcome the episode would have had if its answer were wrong (to see the invalid calls are counted)."""
    from studio.trajectories.episode import Step

    return outcome([Step(**s) for s in row["steps"]], row["finished"], False, row["invalid_actions"], None)


def student(reply) -> tuple[TemplateChat, Scripted]:
    backend = Scripted(reply)
    return TemplateChat(backend, gemma3_tools()), backend


def run(chat, spec: AgentSpec, search=lambda q: f"passage about {q}") -> list:
    done: list = []
    ToolCallRunner(chat, search_toolbox(search), spec).run([Q], done.append)
    return done


def test_a_student_reads_its_template_and_writes_hermes_calls():
    """The completion model gets the conversation rendered by the Gemma 3 tools template (tool list in the first user
    turn, the generation prompt last), stops at the end of its turn, and its `<tool_call>` is run; each turn's prompt
    extends the one before (so an engine's cache per episode keeps working)."""
    prompts: list[str] = []

    def reply(prompt: str) -> str:
        prompts.append(prompt)
        if "passage about" not in prompt:
            return 'I look it up.\n<tool_call>\n{"name": "search", "arguments": {"query": "Frank Herbert"}}\n' \
                   '</tool_call><end_of_turn>\nrest'
        return "Herbert was born in Tacoma.\nAnswer: Tacoma<end_of_turn>"

    chat, _ = student(reply)
    (ep,) = run(chat, AgentSpec("react", "finetuned", max_steps=4))
    assert prompts[0].startswith("<bos><start_of_turn>user\n" + AGENT_SYSTEM) and "<tools>" in prompts[0]
    assert prompts[0].endswith("Where was the author of Dune born?<end_of_turn>\n<start_of_turn>model\n")
    assert prompts[1].startswith(prompts[0]) and "<tool_response>\npassage about Frank Herbert\n</tool_response>" \
        in prompts[1]
    assert ep.prediction == "Tacoma" and ep.correct and ep.finished
    assert [(s.action, s.argument) for s in ep.steps] == [("search", "Frank Herbert"), ("finish", "Tacoma")]


def test_a_call_the_parser_cannot_read_is_an_invalid_call_the_student_sees():
    prompts: list[str] = []

    def reply(prompt: str) -> str:
        prompts.append(prompt)
        return '<tool_call>{"name": "search", "arguments": {"query": ' if len(prompts) == 1 else "Answer: Tacoma"

    chat, _ = student(reply)
    (ep,) = run(chat, AgentSpec("react", "finetuned", max_steps=4))
    assert ep.steps[0].action == "invalid" and ep.steps[0].status == "invalid call"
    assert "Invalid call: the call is not valid JSON" in prompts[1]
    assert ep.messages[-2] == {"role": "user", "content": ep.steps[0].observation}


def test_cot_offers_no_tools_and_a_step_limit_asks_for_the_answer():
    prompts: list[str] = []

    def loops(prompt: str) -> str:
        prompts.append(prompt)
        return '<tool_call>{"name": "search", "arguments": {"query": "again"}}</tool_call>'

    chat, _ = student(lambda p: prompts.append(p) or "Thinking.\nAnswer: Tacoma")
    (ep,) = run(chat, AgentSpec("cot", "prompted", max_steps=4))
    assert "<tools>" not in prompts[0] and ep.prediction == "Tacoma" and ep.offered_tools is None
    prompts.clear()
    chat, _ = student(loops)
    (ep,) = run(chat, AgentSpec("react", "prompted", max_steps=2))
    assert LAST_STEP in prompts[-1] and len(prompts) == 3
    assert not ep.finished and ep.prediction == ""


def test_reflexion_is_told_to_reflect_after_its_steps():
    prompts: list[str] = []

    def reply(prompt: str) -> str:
        prompts.append(prompt)
        return '<tool_call>{"name": "search", "arguments": {"query": "x"}}</tool_call>' if len(prompts) < 4 \
            else "Answer: Tacoma"

    chat, _ = student(reply)
    (ep,) = run(chat, AgentSpec("reflexion", "prompted", max_steps=6, reflect_after=2))
    assert "You have not solved the task within 2 steps" in prompts[2]
    assert ep.prediction == "Tacoma"


def test_a_prompted_agent_sees_worked_examples_as_earlier_conversations():
    messages = tools_prompt("hotpotqa", "react", 2, seed=0)
    assert messages[0]["role"] == "system"
    calls = [m for m in messages if m.get("tool_calls")]
    assert calls and json.loads(calls[0]["tool_calls"][0]["function"]["arguments"])["query"]
    assert sum(m["role"] == "user" for m in messages) == 2
    answers = [m for m in messages if m["role"] == "assistant" and not m.get("tool_calls")]
    assert len(answers) == 2 and all("\nAnswer: " in m["content"] or m["content"].startswith("Answer: ")
                                     for m in answers)
    assert tools_prompt("strategyqa", "react", 0) == [{"role": "system", "content": AGENT_SYSTEM}]


def test_a_task_whose_gold_is_the_calls_is_scored_on_the_calls_made(serve, store, monkeypatch, tmp_path):
    """The `tool_calls` scorer in the loop: the teacher's calls (not its final words) are matched with the expected
    calls of the question's `calls` column, with type coercion."""
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    rows = [{"question": "Six times seven?", "answer": "42",
             "calls": [{"name": "calculate", "arguments": {"expression": "6 * 7"}}]},
            {"question": "Two plus two?", "answer": "4",
             "calls": [{"name": "calculate", "arguments": {"expression": "2 + 2"}}]}]
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def script(call: Call) -> Reply:
        if call.payload["messages"][-1]["role"] == "user":
            return Reply(tool_calls=[wire_call("calculate", {"expression": "6 * 7"})])
        return Reply(text="Answer: whatever I say")

    recipe = calculator_recipe(serve(script).url, data={"correct_only": False}, tasks=[
        {"task": "custom", "path": str(path), "n": 2, "scorer": {"kind": "tool_calls"}}])
    result = generate(recipe, store)
    scored = {r["question"]: (r["em"], r["correct"]) for r in store.trajectories(result.run_id)}
    assert scored == {"Six times seven?": (1.0, True), "Two plus two?": (0.0, False)}


def test_react_under_the_chat_template_prompts_as_it_trained(bundled_model_dir):
    """`student.prompt_format: chat`: the fine-tuned agent's prompt is training's `chat_prefix` (the question a user
    turn, the model's turn opened), the trajectory goes on inside that turn, and its end-of-turn marker stops a step."""
    from transformers import AutoTokenizer

    from studio.agents.react_step import EpisodeRunner
    from studio.llm.chat_template import chat_prefix, tokenizer_template

    template = tokenizer_template(AutoTokenizer.from_pretrained(bundled_model_dir), tools=False)
    prompts: list[str] = []

    def reply(prompt: str) -> str:
        prompts.append(prompt)
        return " It is Tacoma.\nAction: finish[Tacoma]<end_of_turn>\nObservation: junk"

    backend = Scripted(reply)
    done: list = []
    EpisodeRunner(backend, search_toolbox(lambda q: q), AgentSpec("react", "finetuned"), chat=template).run(
        [Q], done.append)
    assert prompts[0] == chat_prefix(template, Q.question) + "Thought:"
    assert done[0].prediction == "Tacoma" and done[0].correct
