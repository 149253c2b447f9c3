"""Tool-calling trajectory files: OpenAI fine-tuning JSONL and ShareGPT/Hermes read as `tools` episodes (malformed
records skipped with their line), the training set written back in both formats, and the round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.recipe.schema import Data
from studio.scoring.kinds import task_score
from studio.stages.importing import import_trajectories
from studio.stages.training_data import run_tool_schemas, training_rows
from studio.trajectories.episode import parse_steps
from studio.trajectories.files import TrajectoryFileError, read_episodes, write_file
from studio.trajectories.openai_format import to_openai
from studio.trajectories.sharegpt_format import read_sharegpt
from tests.support.paths import DATA

OPENAI = DATA / "openai_tools.jsonl"
HERMES = DATA / "hermes_tools.json"
MALFORMED = DATA / "openai_malformed.jsonl"
REACT = ("Thought: Search it.\nAction: search[Sinister director]\nObservation: Scott Derrickson.\n"
         "Thought: Found.\nAction: finish[Scott Derrickson]\n")


def test_openai_records_become_tools_episodes():
    episodes, skipped = read_episodes(OPENAI, "openai", task="custom", score=task_score)
    assert skipped == [] and [e.format for e in episodes] == ["tools"] * 3
    weather, parallel, legacy = episodes
    assert weather.question == "What is the weather in San Francisco?" and weather.task == "custom"
    assert weather.messages[3] == {"role": "tool", "tool_call_id": "call_id", "name": "get_current_weather",
                                   "content": '{"temperature": 17, "sky": "fog"}'}
    assert weather.prediction == "It is 17 degrees Celsius and foggy in San Francisco." and weather.finished
    assert weather.correct is None and weather.gold is None and weather.em is None
    assert [s.action for s in weather.steps] == ["get_current_weather", "finish"]
    # parallel calls answered out of order: each result goes to its own call; extra keys (weight) are dropped
    assert [(s.argument, s.observation) for s in parallel.steps[:2]] == [
        ('{"location": "Paris, France", "format": "celsius"}', "15 C, rain"),
        ('{"location": "Rome, Italy", "format": "celsius"}', "24 C, sunny")]
    assert parallel.prediction == "Rome" and parallel.messages[-1] == {"role": "assistant",
                                                                       "content": "Rome is warmer.\nAnswer: Rome"}
    # the legacy functions / function_call keys, ending on the call: no answer
    assert legacy.messages[1]["tool_calls"][0]["function"]["name"] == "get_current_weather"
    assert legacy.offered_tools == weather.offered_tools and legacy.prediction is None and not legacy.finished
    assert legacy.question_id == weather.question_id + "#2"  # the same question twice keeps both


def test_hermes_records_like_the_public_set():
    (stock, currency, search), skipped = read_episodes(HERMES, "sharegpt", score=task_score)
    assert skipped == []
    # func-calling-singleturn: tools as Python literals in the system turn, which is dropped; ends on the call
    assert [t["function"]["name"] for t in stock.offered_tools] == ["get_stock_price"]
    assert [m["role"] for m in stock.messages] == ["user", "assistant"] and stock.prediction is None
    assert stock.messages[1]["tool_calls"] == [{"id": "call_0", "type": "function", "function": {
        "name": "get_stock_price", "arguments": '{"symbol": "AAPL"}'}}]
    # a JSON object as the tool's content becomes its JSON text
    assert currency.messages[2]["content"] == '{"converted_amount": 92.5, "currency": "EUR"}'
    assert currency.offered_tools[0]["function"]["parameters"]["required"] == ["amount", "from", "to"]
    # `tools` as a JSON string; two calls in one turn, two responses in one tool turn
    assert search.messages[1]["content"] == "Let me look up both."
    assert [(s.action, s.argument, s.observation) for s in search.steps[:2]] == [
        ("search", "population of France", "France has 68 million people."),
        ("search", "population of Japan", "Japan has 124 million people.")]
    assert search.prediction == "68 million and 124 million"


def test_malformed_records_are_skipped_with_their_line(store):
    summary = import_trajectories(store, MALFORMED, "openai")
    assert summary.count == 2 and summary.skipped == 4  # a call to a tool not offered is data: kept
    assert summary.skipped_lines == [
        f"{MALFORMED}:2: invalid JSON: Unterminated string starting at",
        f"{MALFORMED}:3: message 3: tool_call_id 'c9' answers no call before it",
        f"{MALFORMED}:6: message 2: the arguments of the call to 'search' are not JSON: '{{query: Mona Lisa'",
        f"{MALFORMED}:7: no user message (the question)"]
    stored = store.trajectories(summary.run_id)
    assert sorted(r["prediction"] for r in stored) == ["42", "Frank Herbert"]
    assert all(r["format"] == "tools" and r["messages"] for r in stored)
    assert "skipped 4 malformed record(s):" in summary.describe(MALFORMED)


@pytest.mark.parametrize("fmt, content, message", [
    ("openai", "not json\n[1]\n", r"no readable openai trajectories in the file: 2 malformed, the first "
                                  r".*bad.jsonl:1: invalid JSON"),
    ("sharegpt", '[{"conversations": [{"from": "robot", "value": "hi"}]}]',
     r"the first .*bad.jsonl:1: turn 1: `from` 'robot' is not system, human, gpt or tool"),
    ("sharegpt", '{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "<tool_call>{"}]}',
     r"turn 2: a <tool_call> is not closed"),
    ("openai", "\n", r"no readable openai trajectories in the file$"),
])
def test_a_file_with_nothing_readable_is_an_error(store, tmp_path, fmt, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    with pytest.raises(TrajectoryFileError, match=message):
        import_trajectories(store, bad, fmt)
    assert store.list_runs() == []


def test_unknown_tool_result_and_tool_names_are_checked():
    with pytest.raises(ValueError, match="turn 3: a tool result of 'other' answers no call before it"):
        read_sharegpt({"conversations": [
            {"from": "human", "value": "q"}, {"from": "gpt", "value": '<tool_call>{"name": "f", "arguments": {}}'
                                                                       "</tool_call>"},
            {"from": "tool", "value": '<tool_response>{"name": "other", "content": "x"}</tool_response>'}]})


def test_correct_only_keeps_imported_demonstrations(store):
    run_id = import_trajectories(store, HERMES, "sharegpt").run_id
    rows = training_rows(store, [run_id], Data())  # correct_only and dedupe, the defaults
    assert len(rows) == 3  # unknown correctness, one ending on its call: all are the file's demonstrations


def _exported(store, tmp_path, run_id: int, fmt: str) -> tuple[Path, list[dict]]:
    out = tmp_path / f"export-{fmt}.jsonl"
    rows = training_rows(store, [run_id], Data(dedupe=False))
    assert write_file(rows, fmt, out, run_tool_schemas(store, [run_id])) == len(rows)
    return out, rows


def as_sharegpt_reads(row: dict) -> dict:
    """What ShareGPT keeps of a conversation: no call ids (the reader numbers the calls) and results paired with
    calls by position, so the results of one turn's calls come back in the order of the calls."""
    ids: dict[str, str] = {}
    messages = []
    for m in row["messages"]:
        m = dict(m)
        if m.get("tool_calls"):
            m["tool_calls"] = [{**c, "id": ids.setdefault(c["id"], f"call_{len(ids)}")} for c in m["tool_calls"]]
        if m["role"] == "tool":
            m["tool_call_id"] = ids[m["tool_call_id"]]
        messages.append(m)
    i = 0
    while i < len(messages):
        j = i
        while j < len(messages) and messages[j]["role"] == "tool":
            j += 1
        messages[i:j] = sorted(messages[i:j], key=lambda m: int(m["tool_call_id"].removeprefix("call_")))
        i = j + 1
    return {**row, "messages": messages}


@pytest.mark.parametrize("fmt", ["openai", "sharegpt"])
@pytest.mark.parametrize("source, source_fmt", [(OPENAI, "openai"), (HERMES, "sharegpt")])
def test_export_then_import_gives_the_same_messages(store, tmp_path, fmt, source, source_fmt):
    out, written = _exported(store, tmp_path, import_trajectories(store, source, source_fmt).run_id, fmt)
    again = store.trajectories(import_trajectories(store, out, fmt).run_id)
    fields = ("question", "messages", "offered_tools", "steps", "prediction", "method")
    expected = [as_sharegpt_reads(r) if fmt == "sharegpt" else r for r in written]
    assert len(again) == len(written) == 3

    def picked(rows: list[dict]) -> list[dict]:  # in a stable order (a repeated question's `#2` may change hands)
        return sorted(({f: r[f] for f in fields} for r in rows), key=lambda r: json.dumps(r, sort_keys=True))

    assert picked(again) == picked(expected)


def test_react_rows_become_calls_with_the_runs_tools(store, tmp_path):
    source = tmp_path / "react.json"
    source.write_text(json.dumps([{"instruction": "Who directed Sinister?", "input": "",
                                   "output": REACT + "Observation: Episode finished, reward = True\n"}]))
    run_id = import_trajectories(store, source, "alpaca").run_id
    record = json.loads(_exported(store, tmp_path, run_id, "openai")[0].read_text())
    assert record["tools"][0]["function"]["name"] == "search"  # an import has no tool list: the search tool
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    call = record["messages"][2]
    assert call == {"role": "assistant", "content": "Search it.", "tool_calls": [{"id": "call_0", "type": "function",
                    "function": {"name": "search", "arguments": '{"query": "Sinister director"}'}}]}
    assert record["messages"][3] == {"role": "tool", "tool_call_id": "call_0", "content": "Scott Derrickson."}
    assert record["messages"][4] == {"role": "assistant", "content": "Found.\nAnswer: Scott Derrickson"}
    hermes = json.loads(_exported(store, tmp_path, run_id, "sharegpt")[0].read_text())
    assert [t["from"] for t in hermes["conversations"]] == ["system", "human", "gpt", "tool", "gpt"]
    assert hermes["conversations"][2]["value"] == ('Search it.\n<tool_call>\n{"name": "search", "arguments": '
                                                   '{"query": "Sinister director"}}\n</tool_call>')
    assert json.loads(hermes["tools"]) == record["tools"]
    (episode,), _ = read_episodes(tmp_path / "export-sharegpt.jsonl", "sharegpt", score=task_score)
    assert [(s.action, s.argument, s.observation) for s in episode.steps] == [
        (s.action, s.argument, s.observation) for s in parse_steps(REACT)]


def test_openai_export_has_only_the_keys_the_api_takes():
    messages = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
                {"role": "tool", "tool_call_id": "c", "name": "f", "content": "r"},
                {"role": "assistant", "content": "Answer: r"}]
    record = to_openai(messages, None)
    assert record == {"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                              "function": {"name": "f", "arguments": '{"x": 1}'}}]},
        {"role": "tool", "tool_call_id": "c", "content": "r"},
        {"role": "assistant", "content": "Answer: r"}]}


def test_cli_imports_with_skipped_lines_and_exports_openai(cli, tmp_path):
    res = cli("import", str(MALFORMED), "--format", "openai")
    assert res.returncode == 0, res.stderr
    assert "run 1: imported 2 trajectories" in res.stdout and "skipped 4 malformed record(s):" in res.stdout
    assert f"  {MALFORMED}:3: message 3: tool_call_id 'c9' answers no call before it" in res.stdout.splitlines()
    out = tmp_path / "train.jsonl"
    res = cli("export", "--run", "1", "--format", "openai", "-o", str(out))
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2 and all(r["tools"][0]["function"]["name"] == "search" for r in records)
