"""Importing recorded trajectories: the paper's eight files, method detection, scoring, bad files."""

import json

import pytest

from studio.scoring.kinds import task_score
from studio.stages.importing import import_trajectories
from studio.trajectories.files import TrajectoryFileError, episodes_from_file, write_file
from tests.support.paths import FINETUNE, needs_shared

# rows and methods of the paper's fine-tuning files (datasets README; the chat multimethod file has one
# CoT record fewer than its Alpaca twin)
FILES = {
    "alpaca_format/hotpotqa.json": (500, {"react": 499, "cot": 1}),
    "alpaca_format/hotpotqa_multimethod.json": (734, {"react": 499, "cot": 188, "reflexion": 47}),
    "alpaca_format/multitask.json": (1344, {"react": 1015, "cot": 329}),
    "alpaca_format/multitask_multimethod.json": (2063, {"react": 1015, "cot": 977, "reflexion": 71}),
    "gpt_format/hotpotqa.jsonl": (500, {"react": 499, "cot": 1}),
    "gpt_format/hotpotqa_multimethod.jsonl": (733, {"react": 499, "cot": 187, "reflexion": 47}),
    "gpt_format/multitask.jsonl": (1344, {"react": 1015, "cot": 329}),
    "gpt_format/multitask_multimethod.jsonl": (2063, {"react": 1015, "cot": 977, "reflexion": 71}),
}


@needs_shared
@pytest.mark.parametrize("name", FILES)
def test_import_fireact_file(store, name):
    rows, methods = FILES[name]
    summary = import_trajectories(store, FINETUNE / name, "chat" if name.endswith(".jsonl") else "alpaca")
    assert summary.count == rows and summary.by_method == methods
    stored = store.trajectories(summary.run_id)
    assert len(stored) == rows and store.get_run(summary.run_id)["status"] == "done"
    assert all(r["steps"] and r["agent"] == "teacher" for r in stored)
    assert sum(r["finished"] for r in stored) >= rows - 2
    if name.endswith(("multitask.json", "multitask.jsonl")):
        assert summary.by_task == {"hotpotqa": 508, "strategyqa": 380, "mmlu": 456}
        assert summary.scored == 37  # StrategyQA dev questions found in the shipped data
        scored = [r for r in stored if r["em"] is not None]
        assert all(r["correct"] == (r["em"] == 1.0) for r in scored)


def test_mmlu_choices_stay_with_the_question(tmp_path):
    record = {"instruction": "Question: Which is a planet?", "input": "",
              "output": "A. Sun\nB. Mars\nC. Moon\nD. Comet\nThought: Mars.\nAction: finish[B]\n"
                        "Observation: Episode finished, reward = 1\n"}
    path = tmp_path / "mmlu.json"
    path.write_text(json.dumps([record]))
    (episode,) = episodes_from_file(path, "alpaca", score=task_score)
    assert episode.question == "Which is a planet?\nA. Sun\nB. Mars\nC. Moon\nD. Comet"
    assert episode.task == "mmlu" and episode.method == "cot" and episode.prediction == "B"
    assert episode.correct is True and episode.em is None  # gold unknown: the recorded reward stands


def test_known_question_is_scored_against_gold(tmp_path):
    path = tmp_path / "t.jsonl"
    messages = [{"role": "user", "content": "Question: Were Scott Derrickson and Ed Wood of the same nationality?"},
                {"role": "assistant", "content": "Thought: Both American.\nAction: finish[no]"}]
    path.write_text(json.dumps({"messages": messages}) + "\n")
    (episode,) = episodes_from_file(path, "chat", task="hotpotqa", score=task_score)
    assert episode.gold == "yes" and episode.em == 0.0 and episode.correct is False
    assert episode.question_id.startswith("hotpotqa-dev-")


@pytest.mark.parametrize("fmt, content, message", [
    ("alpaca", '[\n {"instruction": "q", "output": "Thought: a\\nAction: finish[b]"},\n {"instruction": "q2",\n',
     r"bad\.json:4: record 2: invalid JSON"),
    ("alpaca", '[\n {"instruction": "q", "output": "Thought: a\\nAction: finish[b]"},\n {"instruction": "q2"}\n]',
     r"bad\.json:3: record 2: `output` is missing or empty"),
    ("alpaca", '{"instruction": "q"}', r"bad\.json:1: an Alpaca file is a JSON array"),
    ("alpaca", '[{"instruction": "q", "output": "just an answer"}]', r"bad\.json:1: record 1: no Thought/Action"),
    ("chat", '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Thought: a"}]}\n'
             "not json\n", r"bad\.json:2: record 2: invalid JSON"),
    ("chat", '{"messages": [{"role": "robot", "content": "q"}]}\n', r"bad\.json:1: record 1: each message needs"),
    ("chat", "\n\n", r"bad\.json: no trajectories"),
])
def test_malformed_file_is_rejected_and_nothing_is_stored(store, tmp_path, fmt, content, message):
    good = tmp_path / "good.json"
    good.write_text('[{"instruction": "q", "output": "Thought: a\\nAction: finish[b]\\n"}]')
    kept = import_trajectories(store, good, "alpaca")
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(TrajectoryFileError, match=message):
        import_trajectories(store, bad, fmt)
    assert [r["id"] for r in store.list_runs()] == [kept.run_id] and len(store.trajectories()) == 1


@pytest.mark.parametrize("fmt", ["alpaca", "chat"])
def test_export_then_import_gives_the_same_trajectories(store, tmp_path, fmt):
    source = tmp_path / "source.json"
    source.write_text(json.dumps([
        {"instruction": "Who directed Sinister?", "input": "",
         "output": "Thought: Search it.\nAction: search[Sinister director]\nObservation: Scott Derrickson.\n"
                   "Thought: Found.\nAction: finish[Scott Derrickson]\nObservation: Episode finished, reward = True\n"},
        {"instruction": "Question: Which is a planet?", "input": "",
         "output": "A. Sun\nB. Mars\nThought: Mars.\nAction: finish[B]\nObservation: Episode finished, reward = 1\n"},
    ]))
    first = store.trajectories(import_trajectories(store, source, "alpaca").run_id)
    out = tmp_path / f"export.{fmt}"
    assert write_file(first, fmt, out) == 2
    again = store.trajectories(import_trajectories(store, out, fmt).run_id)
    fields = ("question", "text", "steps", "method", "task", "prediction", "correct", "question_id")
    assert [{f: r[f] for f in fields} for r in again] == [{f: r[f] for f in fields} for r in first]
