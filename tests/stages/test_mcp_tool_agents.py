"""Agents with MCP tools, end to end over real servers: the loop calls tools by name, whatever goes wrong on the
tool's side becomes an observation, runs store the tool list they were given, and scorers score the answers."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from studio.agents.loop import AgentSpec
from studio.agents.react_step import EpisodeRunner
from studio.owner.config import ENV_VAR
from studio.recipe.schema import Recipe
from studio.stages.evaluate import evaluate
from studio.stages.runs import stored_tools
from studio.tasks import Question
from studio.tools.mcp_hub import McpServerError
from studio.tools.toolbox import ToolboxError, open_toolbox
from tests.support.paths import MCP_SERVERS
from tests.support.scripted_model import Scripted

TOY = str(MCP_SERVERS / "toy.py")


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """An MCP config declaring the toy server twice (to clash) and a Python scorer, active for the test."""
    (tmp_path / "units.py").write_text(
        "def score(prediction, row):\n"
        "    return 1.0 if prediction.strip() == f\"{row['answer']} {row['unit']}\" else 0.0\n")
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({
        "mcpServers": {"toy": {"command": sys.executable, "args": [TOY]},
                       "toy2": {"command": sys.executable, "args": [TOY], "env": {"TOY_VERSION": "${TOY_V}"}}},
        "scorers": {"units": {"module": "units.py", "function": "score"}}}))
    monkeypatch.setenv(ENV_VAR, str(path))
    monkeypatch.setenv("TOY_V", "9.9.9")
    return path


def caller(prompt: str) -> str:
    """A model that makes the call its question spells out ("CALL name[args]"), then answers with what it saw."""
    episode = prompt[prompt.rfind("Question: "):]
    if "Observation:" not in episode:
        action = episode.split("CALL ", 1)[1].split("\n")[0]
        return f" I will call it.\nAction: {action}"
    seen = re.findall(r"Observation: (.*)", episode)[-1]
    return f" Done.\nAction: finish[{seen[:40]}]"


def ask(calls: list[str], recipe: Recipe, in_flight: int = 16, store=None) -> list:
    questions = [Question(f"q{i}", "custom", None, f"CALL {c}", "unused") for i, c in enumerate(calls)]
    done = []
    with open_toolbox(recipe, store) as tools:
        EpisodeRunner(Scripted(caller), tools, AgentSpec("react", "prompted", k=0, max_steps=2),
                      in_flight=in_flight).run(questions, done.append)
    return sorted(done, key=lambda e: int(e.question_id[1:]))


def test_the_agent_calls_mcp_tools_by_name_and_sees_every_failure_as_an_observation(config):
    recipe = Recipe(name="t", tools=[{"mcp": "toy", "exclude": ["crash", "hang"], "max_observation_chars": 200}])
    episodes = ask(['echo[hello there]', 'add[{"a": 1, "b": 2.5}]',
                    'nested[{"order": {"item": {"name": "pen", "qty": 2}, "notes": ["blue"]}}]',
                    'nested[{"order": {"item": {"name": "pen"}, "notes": []}}]', 'fail[{}]', 'huge[{}]',
                    'add[one and two]', 'nosuch[x]', 'crash[{}]'], recipe)
    first = [e.steps[0] for e in episodes]
    assert [(s.action, s.observation, s.status) for s in first[:3]] == [
        ("echo", "hello there", ""), ("add", "3.5", ""), ("nested", "2 x pen; notes: blue", "")]
    assert first[3].status == "invalid call" and "qty" in first[3].observation  # the schema's nested field
    assert first[4].status == "tool error" and "failed on purpose" in first[4].observation
    assert first[5].observation.startswith("0123456789abcdef") and "[... cut: 1048376 more characters]" in \
        first[5].observation and len(first[5].observation) < 300
    assert first[6].status == "invalid call" and "JSON arguments" in first[6].observation
    assert episodes[7].invalid_actions == 2 and first[7].action == "invalid"  # no such tool: retried, then invalid
    assert episodes[8].invalid_actions == 2  # an excluded tool is not offered at all
    rows = [e.as_row() for e in episodes]
    assert [r["outcome"] for r in rows[3:8]] == ["invalid call", "tool error", "wrong answer after tool calls",
                                                 "invalid call", "invalid action"]
    assert all(e.error is None and e.tool == "mcp:toy" for e in episodes)


def test_episodes_in_flight_share_one_server_process(config):
    episodes = ask(["pid[{}]"] * 16, Recipe(name="t", tools=[{"mcp": "toy"}]), in_flight=16)
    assert len({e.steps[0].observation for e in episodes}) == 1


def test_a_hung_call_times_out_and_a_crashed_server_is_restarted_once(config):
    recipe = Recipe(name="t", tools=[{"mcp": "toy", "timeout_s": 1}])
    hung, crashed, after = ask(["hang[{}]", "crash[{}]", "echo[still here]"], recipe, in_flight=1)
    assert hung.steps[0].status == "tool error" and "timed out" in hung.steps[0].observation
    assert crashed.steps[0].status == "tool error" and "restarted" in crashed.steps[0].observation
    assert after.steps[0].observation == "still here"  # the restarted server answers


def test_tools_two_servers_share_a_name_are_prefixed_and_filters_must_name_real_tools(config):
    recipe = Recipe(name="t", tools=[{"mcp": "toy", "include": ["echo"]}, {"mcp": "toy2", "include": ["echo", "add"]}])
    with open_toolbox(recipe) as tools:
        assert tools.names == ["toy.echo", "toy2.echo", "add"]
    (episode,) = ask(["toy2.echo[hi]"], recipe)
    assert episode.steps[0].observation == "hi"
    with pytest.raises(ToolboxError, match="MCP server `toy` has no tool `ech`"):
        ask([], Recipe(name="t", tools=[{"mcp": "toy", "include": ["ech"]}]))
    with pytest.raises(McpServerError, match=r"`nowhere` is not declared.*declared: calculator, search, toy, toy2"):
        ask([], Recipe(name="t", tools=[{"mcp": "nowhere"}]))


def test_an_evaluation_with_tools_stores_its_tool_list_scores_with_a_python_scorer_and_reruns_new_when_tools_change(
        config, store, tmp_path, monkeypatch):
    data = tmp_path / "q.csv"
    data.write_text('question,answer,unit\n"CALL echo[12 kg]",12,kg\n"CALL echo[12 lb]",12,kg\n')
    recipe = Recipe(name="units", tools=[{"mcp": "toy2", "include": ["echo"]}], evaluation={
        "sets": [{"task": "custom", "path": str(data), "n": 2, "scorer": {"kind": "python", "name": "units"}}],
        "agents": ["prompted"], "few_shot_k": 0})
    backend = Scripted(caller)
    first = evaluate(recipe, store, backends={"prompted": backend})
    rows = sorted(store.trajectories(first.run_id), key=lambda r: r["question_id"])
    assert [r["correct"] for r in rows] == [True, False] and first.correct == 1
    (tool,) = stored_tools(store.get_run(first.run_id))
    assert tool["name"] == "echo" and tool["server"] == "toy2" and tool["version"] == "9.9.9"
    assert tool["input_schema"]["properties"]["text"]["type"] == "string"
    again = evaluate(recipe, store, backends={"prompted": backend})
    assert again.run_id == first.run_id and again.ran == 0  # same tools: resumed, nothing to do
    monkeypatch.setenv("TOY_V", "10.0.0")  # the server was upgraded: its tool list is not the one the run used
    upgraded = evaluate(recipe, store, backends={"prompted": backend})
    assert upgraded.run_id != first.run_id and upgraded.ran == 2


@pytest.mark.slow
def test_search_served_over_mcp_gives_the_quickstart_evaluation_the_same_episodes(store, llama_server, monkeypatch):
    """The built-in search shipped as an MCP server is the same tool: the prompted student (greedy, on the bundled
    model) answers the quickstart's questions with the same steps, observations and answers through either."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    evaluation = {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 3}], "agents": ["prompted"],
                  "few_shot_k": 3, "max_steps": 4,
                  "engine": {"name": "server", "base_url": llama_server, "base_model_name": "gemma-3-270m",
                             "parallel": 1}}
    built_in = evaluate(Recipe(name="builtin", evaluation=evaluation), store)
    served = evaluate(Recipe(name="served", tools=[{"mcp": "search"}], evaluation=evaluation), store)

    def episodes(run_id: int) -> list[tuple]:
        rows = sorted(store.trajectories(run_id), key=lambda r: r["question_id"])
        return [(r["question_id"], r["prediction"], [(s["action"], s["argument"], s["observation"])
                                                     for s in r["steps"]]) for r in rows]

    assert built_in.failed == served.failed == 0
    assert any(s[0] == "search" for _, _, steps in episodes(built_in.run_id) for s in steps)
    assert episodes(served.run_id) == episodes(built_in.run_id)
    assert {r["tool"] for r in store.trajectories(served.run_id)} == {"mcp:search"}


def test_a_custom_task_is_prompted_with_the_recipes_examples_else_zero_shot_with_the_tool_list(tmp_path):
    from studio.agents.prompts import prompt_prefix
    from studio.tools.tool import ToolSpec

    calc = ToolSpec("calculate", "Evaluates an arithmetic expression.",
                    {"type": "object", "properties": {"expression": {"type": "string"}}}, server="calculator")
    recorded = tmp_path / "examples.json"
    recorded.write_text(json.dumps([{"instruction": "What is 6 times 7?", "input": "", "output":
                                     "Thought: Multiply.\nAction: calculate[6 * 7]\nObservation: 42\n"
                                     "Thought: It is 42.\nAction: finish[42]\n"}]))
    with_file = prompt_prefix("custom", "react", "What is 2 + 2?", 3, tools=[calc], examples=str(recorded))
    assert "(1) calculate[expression]: Evaluates an arithmetic expression." in with_file
    assert "Question: What is 6 times 7?\nThought: Multiply.\nAction: calculate[6 * 7]" in with_file
    zero_shot = prompt_prefix("custom", "react", "What is 2 + 2?", 3, tools=[calc])
    assert zero_shot.endswith("(2) finish[answer], which returns the answer and finishes the task.\n"
                              "Question: What is 2 + 2?\n")  # no borrowed search examples: they would mislead
    with pytest.raises(ValueError, match="`examples` is for task `custom`"):
        Recipe(name="t", evaluation={"sets": [{"task": "hotpotqa", "examples": str(recorded)}]})
