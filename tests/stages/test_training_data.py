"""Training data: filters, dedupe, method/task mix, export and re-import."""

import json

from studio.recipe.schema import Data
from studio.stages.training_data import training_rows
from studio.trajectories.episode import Episode, Step


def ep(i: int, method="react", task="hotpotqa", correct=True, steps=2, question=None, error=None) -> Episode:
    return Episode(task=task, split="dev", question_id=f"{task}-{i}", question=question or f"{task} question {i}?",
                   method=method, agent="teacher", gold="a", text="Thought: t\nAction: finish[a]\n",
                   steps=[Step("t", "search", "x", "o")] * (steps - 1) + [Step("t", "finish", "a")],
                   prediction=None if error else "a", correct=correct, error=error)


def fill(store, episodes):
    run = store.create_run("gen", "generate")
    store.add_episodes(run, episodes)
    return run


def test_filters_correct_steps_errors_and_dupes(store):
    run = fill(store, [ep(1), ep(2, correct=False), ep(3, steps=9), ep(4, error="timeout"),
                       ep(5, question="hotpotqa question 1?"), ep(6, method="cot", question="hotpotqa question 1?")])
    got = training_rows(store, [run], Data(max_steps=5))
    assert sorted(r["question_id"] for r in got) == ["hotpotqa-1", "hotpotqa-6"]
    everything = training_rows(store, [run], Data(correct_only=False, dedupe=False))
    assert len(everything) == 5  # the failed episode never trains


def test_method_mix_follows_weights(store):
    run = fill(store, [ep(i) for i in range(30)] + [ep(100 + i, method="cot") for i in range(8)]
               + [ep(200 + i, method="reflexion") for i in range(5)])
    got = training_rows(store, [run], Data(method_mix={"react": 2, "cot": 1}))
    counts = {m: sum(r["method"] == m for r in got) for m in ("react", "cot", "reflexion")}
    assert counts == {"react": 16, "cot": 8, "reflexion": 0}
    again = training_rows(store, [run], Data(method_mix={"react": 2, "cot": 1}))
    assert [r["key"] for r in again] == [r["key"] for r in got]  # same seed, same set


def test_task_mix_and_cap(store):
    run = fill(store, [ep(i) for i in range(10)] + [ep(i, task="mmlu") for i in range(10)])
    got = training_rows(store, [run], Data(task_mix={"hotpotqa": 1, "mmlu": 1, "strategyqa": 5}, max_examples=6))
    assert len(got) == 6 and {r["task"] for r in got} <= {"hotpotqa", "mmlu"}


def test_export_cli_round_trip(cli, tmp_path):
    source = tmp_path / "src.json"
    source.write_text(json.dumps([
        {"instruction": "Who directed Sinister?", "input": "",
         "output": "Thought: Search.\nAction: search[Sinister]\nObservation: Scott Derrickson.\nThought: Found.\n"
                   "Action: finish[Scott Derrickson]\nObservation: Episode finished, reward = True\n"},
        {"instruction": "Who wrote Hamlet?", "input": "",
         "output": "Thought: Me.\nAction: finish[Marlowe]\nObservation: Episode finished, reward = False\n"},
    ]))
    assert cli("import", str(source), "--format", "alpaca").returncode == 0
    out = tmp_path / "train.jsonl"
    res = cli("export", "--run", "1", "--format", "chat", "-o", str(out))
    assert res.returncode == 0 and "wrote 1 trajectories" in res.stdout  # the wrong one is filtered out
    (line,) = out.read_text().splitlines()
    messages = json.loads(line)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == "Thought: Search.\nAction: search[Sinister]"
    res = cli("export", "--run", "1", "--format", "alpaca", "-o", str(tmp_path / "all.json"), "--all")
    assert "wrote 2 trajectories" in res.stdout
    assert cli("import", str(out), "--format", "chat").returncode == 0
    assert cli("export", "--run", "9", "--format", "chat", "-o", str(out)).stderr.startswith("error: no run 9 in ")
