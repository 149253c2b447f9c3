"""The estimate's arithmetic of evaluation time: a dry run's wall time split into what an evaluation pays once (start
the engine, convert the model, the prompt's template) and per episode (its share of the model calls, in flight as
the run has them); each agent's evaluation starts its model once; the probe asks as many questions as the
evaluation runs at once; the estimate's stage times are stored for the runs to be set beside."""

from __future__ import annotations

from studio.recipe.io import parse_recipe
from studio.stages.estimate import Estimate, _evaluate
from studio.stages.pace import EpisodePace, dry_run_split, probe_questions
from studio.stages.timing import run_time
from studio.tasks import Question
from studio.trajectories.episode import Episode

RECIPE = ("name: paced\ntrajectories: {source: import, task: hotpotqa, "
          "path: studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json}\n"
          "evaluation: {sets: [{task: hotpotqa, split: eval250, n: 5}], engine: {parallel: 4}}\n")


def questions(n: int) -> list[Question]:
    return [Question(f"q{i}", "hotpotqa", "eval250", f"Question {i}?", "yes") for i in range(n)]


def test_a_dry_run_is_split_into_a_start_paid_once_and_each_episodes_share_of_the_model_calls():
    episodes = [Episode(task="t", question_id=f"q{i}", question="?", method="react", agent="prompted", compute_s=s)
                for i, s in enumerate((4.0, 6.0, 5.0))]
    failed = Episode(task="t", question_id="q9", question="?", method="react", agent="prompted", compute_s=1.0,
                     error="connection error")
    once, per = dry_run_split(40.0, [*episodes, failed])
    assert per == 5.0  # the failure's second times the failure, not the model
    assert once == 40.0 - 16.0  # the wall time outside every model call, the failed one's included
    assert dry_run_split(10.0, episodes) == (0.0, 5.0)  # clocks read apart never make the start negative


def test_an_evaluations_seconds_are_its_start_once_then_each_episode():
    pace = EpisodePace(5.0, 0.01, "measured", start_s=20.0, start_cost=0.02)
    assert pace.seconds_for(100) == 20.0 + 500.0  # not 100 starts, and not a start per dry-run episode
    assert pace.seconds_for(100, starts=4) == 80.0 + 500.0
    assert pace.cost_for(100) == 0.02 + 1.0
    assert pace.seconds_for(0) == 0.0 and pace.cost_for(0) == 0.0  # nothing left to run starts nothing


def test_the_probe_asks_as_many_questions_as_the_evaluation_runs_at_once():
    recipe = parse_recipe(RECIPE)
    assert probe_questions(recipe, "prompted", questions(10)) == questions(4)  # engine.parallel
    assert probe_questions(recipe, "prompted", questions(3)) == questions(3)  # all there are
    assert len(probe_questions(recipe, "teacher", questions(10))) == recipe.teacher.concurrency


class Paced:
    """A pace that has measured every agent: 20 s to start, 5 s an episode."""

    def __init__(self) -> None:
        self.why_not: dict[str, str] = {}

    def episode(self, agent: str) -> EpisodePace:
        return EpisodePace(5.0, 0.0, f"measured {agent}", start_s=20.0)


def test_each_agent_of_the_evaluation_starts_its_model_once(store):
    recipe = parse_recipe(RECIPE)  # agents: prompted and fine-tuned
    out = Estimate(recipe.name)
    _evaluate(recipe, store, questions(5), Paced(), out)
    assert out.value("evaluate", "episodes") == 10
    assert out.value("evaluate", "time") == 2 * (20.0 + 5 * 5.0)


def test_a_runs_time_is_set_beside_the_last_estimate_made_before_it_started(store):
    run = store.create_run("paced evaluate", "evaluate", {}, "paced", fingerprint="f1")
    store.save_estimate("paced", "evaluate", "f1", 3312.0)
    store.save_estimate("paced", "evaluate", "other settings", 60.0)
    store.set_run_status(run, "running")
    assert run_time(store, run) is None  # not done: no time to set beside it
    store.save_estimate("paced", "evaluate", "f1", 1.0)  # made after the run started: not what it was told
    store.set_run_status(run, "done")
    found = store.run_time(run)
    assert found["predicted_s"] == 3312.0 and found["actual_s"] >= 0
    assert run_time(store, run).startswith("predicted 55.2 min / actual ")
    alone = store.create_run("unestimated", "evaluate", {}, "other", fingerprint="f1")
    store.set_run_status(alone, "running")
    store.set_run_status(alone, "done")
    assert run_time(store, alone).startswith("actual ")
