"""Self-improvement rounds: the recipe section and its checks, fresh questions per round never taken from an
evaluation set, which student attempts are kept, how a round's training set is formed, and a real round (the
student explores with sampling, trains, evaluates) that is cancelled, resumed and charted."""

from __future__ import annotations

import random
import shutil
import threading

import pytest

from storage import Store
from studio.errors import Cancelled
from studio.recipe.fingerprint import fingerprint
from studio.recipe.io import RecipeError, parse_recipe
from studio.recipe.schema import Recipe
from studio.results.rounds_table import format_rounds, round_table
from studio.stages.pipeline import trajectories
from studio.stages.rounds import attempts, round_questions
from studio.stages.runs import StageError, open_run
from studio.stages.training_data import _weighted, training_set
from studio.tasks import question_key
from studio.trajectories.episode import Episode, Step
from studio.trajectories.selection import kept

BASE = {"name": "r", "trajectories": {"source": "import", "task": "hotpotqa",
                                      "path": "studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json"},
        "data": {"max_examples": 6}}


def recipe_with(**rounds) -> Recipe:
    return Recipe.model_validate(BASE | {"rounds": rounds})


def problems(text: str) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text)
    return info.value.problems


def test_a_round_may_not_draw_from_an_evaluation_set():
    text = ("name: r\nevaluation:\n  sets: [{task: hotpotqa, split: eval250, n: 5}]\nrounds:\n  count: 1\n"
            "  questions:\n    - {task: hotpotqa, split: dev, n: 5}\n    - {task: hotpotqa, split: eval250, n: 5}\n")
    assert problems(text) == ["rounds.questions[1]: hotpotqa eval250 is an evaluation set: the student may not "
                              "train on questions it is evaluated on (line 8)"]
    assert parse_recipe("name: r\nevaluation:\n  sets: [{task: hotpotqa, split: dev, n: 5}]\n")  # no rounds: fine


def test_greedy_attempts_and_empty_mixes_are_refused():
    assert problems("name: r\nrounds: {samples: 4, temperature: 0}\n") == [
        "rounds: samples > 1 needs a temperature above 0: greedy attempts are all the same (line 2)"]
    assert problems("name: r\nrounds: {teacher_weight: 0, student_weight: 0}\n")[0].startswith(
        "rounds: teacher_weight and student_weight cannot both be 0")


def test_round_zero_is_the_recipe_itself_and_each_round_its_own_run():
    plain = Recipe.model_validate(BASE)
    rounds = recipe_with(count=2, samples=8)
    for stage in ("import", "train", "evaluate"):  # adding rounds keeps the recipe's own runs
        assert fingerprint(rounds, stage) == fingerprint(plain, stage)
    for stage in ("train", "evaluate"):
        assert len({fingerprint(rounds, stage, r) for r in (0, 1, 2)}) == 3
    # one more round keeps the rounds already run; a setting of the rounds makes them new
    assert fingerprint(recipe_with(count=3, samples=8), "train", 2) == fingerprint(rounds, "train", 2)
    assert fingerprint(recipe_with(count=2, samples=4), "train", 2) != fingerprint(rounds, "train", 2)


def test_each_round_draws_fresh_questions_outside_the_evaluation_sets():
    recipe = Recipe.model_validate(BASE | {
        "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 250}]},
        "rounds": {"count": 3, "questions": [{"task": "hotpotqa", "split": "dev", "n": 40, "seed": 1}]}})
    from studio.stages.generate import evaluation_questions

    evaluated = {question_key(q.question) for q in evaluation_questions(recipe)}
    drawn = [round_questions(recipe, r) for r in (1, 2, 3)]
    assert [len(d) for d in drawn] == [40, 40, 40]
    texts = [question_key(q.question) for d in drawn for q in d]
    assert len(set(texts)) == 120 and not set(texts) & evaluated
    assert round_questions(recipe, 2) == drawn[1]  # a rerun draws the same questions


def test_a_pool_that_runs_out_names_the_field():
    recipe = Recipe.model_validate(BASE | {"rounds": {"count": 2, "questions": [
        {"task": "bamboogle", "split": "test", "n": 125}]}})
    assert len(round_questions(recipe, 1)) == 125
    with pytest.raises(StageError, match=r"rounds.questions\[0\]: round 2 has no questions left \(125 were used"):
        round_questions(recipe, 2)


def test_attempts_keep_their_question_and_get_their_own_key():
    recipe = recipe_with(count=1, questions=[{"task": "hotpotqa", "split": "dev", "n": 2}], samples=3)
    tries = attempts(round_questions(recipe, 1), 3)
    assert len(tries) == 6 and len({t.id for t in tries}) == 6
    assert [t.question for t in tries[:3]] == [tries[0].question] * 3


def row(i: int, question: str, text: str, em: float, f1: float, steps: int = 2, error: str | None = None) -> dict:
    return {"run_id": 1, "key": f"k{i}", "question": question, "text": text, "em": em, "f1": f1,
            "n_steps": steps, "error": error, "prediction": None if error else "x"}


def test_kept_attempts_are_right_distinct_and_few_per_question():
    rows = [row(0, "Q1", "a", 1, 1, steps=3), row(1, "Q1", "b", 1, 1, steps=2), row(2, "Q1", "b", 1, 1, steps=2),
            row(3, "Q2", "c", 0, 0.6), row(4, "Q2", "d", 0, 0.2), row(5, "Q3", "e", 1, 1, error="HTTP 500")]
    by_em = recipe_with(keep="em", max_per_question=1).rounds
    assert [r["key"] for r in kept(rows, by_em)] == ["k1"]  # the fewest steps; Q2 not exact; Q3 failed
    two = recipe_with(keep="em", max_per_question=2).rounds
    assert [r["key"] for r in kept(rows, two)] == ["k0", "k1"]  # k2 repeats k1's text
    assert len(kept(rows, recipe_with(keep="em", max_per_question=3, dedupe=False).rounds)) == 3
    by_f1 = recipe_with(keep="f1", f1_threshold=0.5, max_per_question=1).rounds
    assert [r["key"] for r in kept(rows, by_f1)] == ["k1", "k3"]


def test_weights_repeat_rows_and_sample_the_fraction():
    rows = [{"i": i} for i in range(10)]
    assert len(_weighted(rows, 2.5, random.Random(0))) == 25
    assert _weighted(rows, 0, random.Random(0)) == []
    half = _weighted(rows, 0.5, random.Random(0))
    assert len(half) == 5 and len({r["i"] for r in half}) == 5


def test_the_rounds_lines_name_each_later_rounds_change_against_round_0():
    score = {"task": "hotpotqa", "method": "react", "em": 14.0, "em_lo": 10.2, "em_hi": 18.9, "questions": 250}
    base = {"right": 0, "attempts": 0, "kept": 0, "teacher_examples": 694, "student_examples": 0, "scores": [score]}
    table = [{**base, "round": 0, "vs_round0": None},
             {**base, "round": 1, "right": 26, "attempts": 400, "kept": 14, "teacher_examples": 174,
              "student_examples": 28, "vs_round0": {"gained": 14, "lost": 13, "p": 1.0}},
             {**base, "round": 2, "teacher_examples": None, "scores": [], "vs_round0": None}]
    assert format_rounds(table).splitlines() == [
        "round 0: 694 teacher examples; hotpotqa/react EM 14.0 [10.2, 18.9] (n=250)",
        "round 1: 26/400 attempts right, 14 kept; 174 teacher + 28 student examples (14% student); hotpotqa/react "
        "EM 14.0 [10.2, 18.9] (n=250); against round 0: 14 gained, 13 lost (exact McNemar p 1.00)",
        "round 2: 0/0 attempts right, 0 kept; not trained; not evaluated",
    ]


def student_episode(i: int, right: bool) -> Episode:
    return Episode(task="hotpotqa", split="dev", question_id=f"q{i}#0", question=f"Question {i}?", method="react",
                   agent="finetuned", gold="yes", prediction="yes" if right else "no", em=float(right),
                   f1=float(right), correct=right, finished=True, text=f"Thought: {i}\nAction: finish[yes]\n",
                   steps=[Step("t", "finish", "yes")])


def test_a_round_trains_on_teacher_and_kept_student_data(store):
    recipe = recipe_with(count=2, teacher_weight=0.5, student_weight=2)
    trajectories(recipe, store)  # the import: round 0's teacher data
    teacher, mix = training_set(recipe, store)
    assert mix == {"teacher_examples": 6, "student_examples": 0} and len(teacher) == 6
    with pytest.raises(StageError, match="round 1 of recipe 'r' has not explored yet"):
        training_set(recipe, store, 1)
    for r, right in ((1, [True, False, True]), (2, [True])):
        run_id, _ = open_run(store, recipe, "explore", r)
        store.add_episodes(run_id, [student_episode(10 * r + i, ok) for i, ok in enumerate(right)])
        store.set_run_status(run_id, "done")
    rows, mix = training_set(recipe, store, 2)
    assert mix == {"teacher_examples": 3, "student_examples": 6}  # (2 kept in round 1 + 1 in round 2) x 2
    assert {r["question"] for r in rows[3:]} == {"Question 10?", "Question 12?", "Question 20?"}
    assert store.get_run(run_id)["round"] == 2


ROUNDS = {"count": 1, "questions": [{"task": "hotpotqa", "split": "dev", "n": 2, "seed": 3}], "samples": 2,
          "temperature": 1.0, "keep": "f1", "f1_threshold": 0.1, "init": "last", "epochs": None}


def test_a_round_explores_trains_and_evaluates_and_resumes_after_a_cancel(trained_agent, tmp_path, monkeypatch,
                                                                         cli):
    """The session's tiny fine-tuned agent is round 0; round 1 samples 2 attempts at 2 dev questions, trains
    (continuing from round 0's adapter) and is evaluated. Cancelled after its first attempt, the round resumes
    into the same run; run again, it does nothing."""
    from studio.results.dashboards import build_dashboard
    from studio.stages.pipeline import run_recipe

    base, db = trained_agent
    shutil.copy(db, tmp_path / "agent.duckdb")
    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    recipe = Recipe.model_validate(base.model_dump() | {"rounds": ROUNDS})
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.label)
        if p.stage == "explore" and p.done >= 1:
            cancel.set()

    with Store(tmp_path / "agent.duckdb") as store:
        with pytest.raises(Cancelled):
            run_recipe(recipe, store, ("rounds",), progress, cancel)
        explore = store.find_run(recipe.name, "explore", fingerprint(recipe, "explore", 1))
        assert explore["status"] == "cancelled" and explore["round"] == 1 and seen[0] == "round 1 explore"
        first = len(store.trajectories(explore["id"]))
        assert first >= 1

        done = run_recipe(recipe, store, ("rounds",))["rounds"]
        (result,) = done.rounds
        assert result.explore.run_id == explore["id"] and result.explore.skipped == first
        episodes = store.trajectories(explore["id"])
        assert len(episodes) == 4 and {e["question_id"].rsplit("#", 1)[1] for e in episodes} == {"0", "1"}
        assert {e["model"] for e in episodes} == {"bundled:gemma-3-270m + adapter (transformers)"}
        train = store.get_run(result.train.run_id)
        assert train["round"] == 1 and train["status"] == "done"
        assert train["summary"]["student_examples"] == len(kept(episodes, recipe.rounds))
        assert train["summary"]["teacher_examples"] == 64
        assert (tmp_path / "runs").exists() and result.train.adapter.startswith(str(tmp_path / "runs"))
        evaluate = store.get_run(result.evaluate.run_id)
        assert evaluate["round"] == 1 and {e["agent"] for e in store.trajectories(evaluate["id"])} == {"finetuned"}

        again = run_recipe(recipe, store, ("rounds",))["rounds"].rounds[0]
        assert (again.explore.ran, again.train.status, again.evaluate.ran) == (0, "skipped", 0)
        assert len(store.query("SELECT id FROM runs WHERE round = 1")) == 3

        table = round_table(store, recipe)
        assert [r["round"] for r in table] == [0, 1] and table[1]["attempts"] == 4
        assert table[1]["scores"][0]["em_lo"] <= table[1]["scores"][0]["em"] <= table[1]["scores"][0]["em_hi"]
        # the fixture's round 0 was trained, never evaluated: nothing to pair round 1 with (the timeline test
        # in tests/app/test_studio_events.py checks the pairing itself)
        assert table[0]["evaluate"] is None and table[1]["vs_round0"] is None
        spec = build_dashboard(store, [r["id"] for r in store.list_runs()], "rounds")
        titles = [f["layout"]["title"]["text"] for f in spec["figures"]]
        assert "tiny-agent: fine-tuned EM per round (bars: 95% interval)" in titles
        assert "tiny-agent: training set per round" in titles
        assert [r["round"] for r in spec["rounds"]] == [0, 1]
        assert spec["rounds"][1]["against_round0"] is None
        later = {r["id"] for r in store.list_runs() if r["round"]}
        assert spec["scores"] and not {r["run_id"] for r in spec["scores"]} & later  # round 0's runs only

    from studio.recipe.io import dump_recipe

    (tmp_path / "tiny-agent.yaml").write_text(dump_recipe(recipe))
    shown = cli("run", str(tmp_path / "tiny-agent.yaml"), "--stages", "rounds", "--dashboard",
                str(tmp_path / "rounds.html"), db=tmp_path / "agent.duckdb")
    assert shown.returncode == 0, shown.stderr
    assert f"rounds: round 1: explore run {explore['id']} (0 ran, 4 done before)" in shown.stdout
    assert "\nround 1: " in shown.stdout
    assert "attempts right" in shown.stdout and "hotpotqa/react EM" in shown.stdout
    assert "Self-improvement rounds" in (tmp_path / "rounds.html").read_text()


def test_the_estimate_counts_the_rounds(store):
    from studio.stages.estimate import estimate

    recipe = recipe_with(count=2, samples=2, questions=[{"task": "hotpotqa", "split": "dev", "n": 3}],
                         teacher_weight=3, epochs=1)
    trajectories(recipe, store)
    found = estimate(recipe, store, measure=False)
    assert found.value("rounds", "student attempts") == 12  # 2 rounds x 3 questions x 2 attempts
    assert found.value("rounds", "evaluation episodes") == 40  # 2 rounds x 20 questions
    assert found.value("rounds", "optimizer steps") == 6  # 6 teacher examples x 3 in batches of 8, per round
    assert found.value("rounds", "time (attempts and evaluations)") is None  # nothing measured in this store
    exhausted = recipe_with(count=2, questions=[{"task": "bamboogle", "split": "test", "n": 125}])
    trajectories(exhausted, store)
    with pytest.raises(StageError, match="round 2 has no questions left"):
        estimate(exhausted, store)
