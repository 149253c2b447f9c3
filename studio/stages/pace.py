"""This machine's pace, for the estimate: how long training takes (a fixed start and each optimizer step) and what
one evaluation episode of an agent costs in machine seconds and dollars. Earlier runs in the store give it where
there are some (the last finished train run of the same student, the machine seconds per episode of earlier
evaluations of the same model and agent), else it is measured now: a few optimizer steps of the real training
worker, started as the train stage starts it, on a typical step's rows in a temporary folder, and evaluation episodes
of the student the way the evaluation runs them: on the recipe's engine, as many in flight as it runs at once
(`engine.parallel`: llama-server's slots batch them), through the one episode path. What an evaluation pays once
(start the engine, convert or load the model, build the prompt's template, start the tools) is kept apart from what
it pays per episode, so that a dry run of a few episodes is not multiplied into hours. Nothing measured is stored.
Imports the stages' train, runner and episodes lazily, and what they import.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from storage import Store
from studio.errors import StudioError
from studio.recipe.schema import Recipe, Student
from studio.tasks import Question
from studio.trajectories.episode import Episode

MEASURE_STEPS = 3  # optimizer steps the training probe runs on one step's rows; the first warms up, not counted
MEASURE_TIMEOUT_S = 600  # a probe that takes longer leaves the figure open


@dataclass
class TrainPace:
    """How long training takes on this machine: a fixed start (load the model, tokenize, save) and each step."""

    step_s: float
    start_s: float
    basis: str

    def seconds(self, steps: float, runs: int = 1) -> float:
        return runs * self.start_s + steps * self.step_s


@dataclass
class EpisodePace:
    """Machine seconds and dollars of one evaluation episode of an agent, and what starting its model costs once
    per evaluation (0 when paced by earlier runs, which store only their episodes)."""

    seconds: float
    cost: float
    basis: str
    note: str = ""  # what stands in for what
    start_s: float = 0.0
    start_cost: float = 0.0

    def seconds_for(self, episodes: int, starts: int = 1) -> float:
        """Seconds of `episodes` episodes that start the model `starts` times; nothing when none run."""
        return starts * self.start_s + episodes * self.seconds if episodes else 0.0

    def cost_for(self, episodes: int, starts: int = 1) -> float:
        """Dollars of `episodes` episodes that start the model `starts` times; nothing when none run."""
        return starts * self.start_cost + episodes * self.cost if episodes else 0.0


def dry_run_split(wall_s: float, episodes: list[Episode]) -> tuple[float, float]:
    """A dry run's wall seconds as (once, per episode). The episodes' model calls, each call's time shared out among
    the episodes it served (`compute_s`: what they cost in flight together), are paid per episode, averaged over
    the episodes that did not fail (an error's seconds time the failure, not the model); the rest of the wall time
    (starting the engine and the tools, converting or loading the model, the prompt's template) is paid once."""
    timed = [e.compute_s for e in episodes if not e.error]
    return max(0.0, wall_s - sum(e.compute_s for e in episodes)), statistics.fmean(timed)


class Pace:
    """This machine's pace, asked for when a figure needs it: from earlier runs in the store, else measured now
    (each at most once per estimate)."""

    def __init__(self, recipe: Recipe, store: Store, rows: list[dict], questions: list[Question], measure: bool):
        self.recipe, self.store, self.rows, self.questions, self.measure = recipe, store, rows, questions, measure
        self.why_not: dict[str, str] = {}  # what could not be measured, and why
        self._train: TrainPace | None = None
        self._measured: dict[str, EpisodePace | None] = {}

    def tokens_per_step(self) -> float | None:
        """Training tokens in one optimizer step, at about 4 characters a token of the rows (None: no rows)."""
        student, texts = self.recipe.student, [r["question"] + r["text"] for r in self.rows[:200]]
        if not texts:
            return None
        return student.batch_size * student.grad_accum * min(student.max_seq_length,
                                                             statistics.fmean(len(t) for t in texts) / 4)

    def train(self) -> TrainPace | None:
        """From the last finished train run of this student in the store (its tokens/s), else measured now."""
        student, tokens_per_step = self.recipe.student, self.tokens_per_step()
        speed = self.store.train_speed(student.model)
        if speed and speed["s"] and tokens_per_step:
            return TrainPace(tokens_per_step / speed["s"], 0.0,
                             f"run {speed['run_id']} trained {speed['s']:.0f} tokens/s on this machine")
        if self._train is None and self.measure and "train" not in self.why_not:
            try:
                self._train = measure_training(self.recipe, self.store, self.rows)
            except StudioError as exc:
                self.why_not["train"] = str(exc)
        return self._train

    def episode(self, agent: str) -> EpisodePace | None:
        """From this agent's model in earlier evaluations in the store, else measured now (the fine-tuned agent,
        before there is an adapter, by the base student it starts from)."""
        model = self.recipe.teacher.model if agent == "teacher" else self.recipe.student.model
        past = self.store.evaluated_pace(agent, "$.teacher.model" if agent == "teacher" else "$.student.model", model)
        if past["s"] is not None:
            seconds = past["s"]
            cost = past["c"] if agent == "teacher" else seconds * self.recipe.evaluation.local_price_per_hour / 3600
            return EpisodePace(seconds, cost, "machine seconds per episode of earlier evaluations in this store")
        probe = "teacher" if agent == "teacher" else "prompted"
        if probe not in self._measured and self.measure:
            try:
                self._measured[probe] = measure_episodes(self.recipe, self.store, probe,
                                                         probe_questions(self.recipe, probe, self.questions))
            except StudioError as exc:
                self._measured[probe], self.why_not[probe] = None, str(exc)
        found = self._measured.get(probe)
        if found is None or agent == probe:
            return found
        return replace(found, note="the fine-tuned agent, not trained yet, paced as the prompted student")


def probe_questions(recipe: Recipe, agent: str, questions: list[Question]) -> list[Question]:
    """The evaluation questions to time `agent` on: as many as the evaluation runs at once (fewer episodes in
    flight than the run has would time a batch the engine never sees)."""
    from studio.stages.runner import in_flight

    return questions[:in_flight(recipe, agent)]


def measure_training(recipe: Recipe, store: Store, rows: list[dict]) -> TrainPace:
    """A few optimizer steps of the real training worker, with the recipe's student settings, on the rows of one
    typical step, in a temporary folder that is removed after. Every step sees the same batches: a CPU compiles
    its kernels for each new shape, which a short probe of fresh shapes would time instead of the training
    (2 to 3 times too slow)."""
    import json
    import subprocess
    import tempfile

    from studio.stages.train import start_worker, stop_worker
    from studio.stages.training_data import worker_rows
    from studio.train.worker import write_inputs

    student = recipe.student
    if not rows:
        raise StudioError("no training rows to measure a step on yet")
    chosen = typical_step(rows, student)
    probe = recipe.model_copy(update={"student": student.model_copy(
        update={"max_steps": MEASURE_STEPS, "save_merged": False, "checkpoint_every": MEASURE_STEPS + 1})})
    with tempfile.TemporaryDirectory(prefix="studio-estimate-") as tmp:
        folder = Path(tmp)
        write_inputs(folder, probe, worker_rows(probe, store, chosen))
        started = time.perf_counter()
        worker = start_worker(folder, student.devices)
        try:
            worker.wait(timeout=MEASURE_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise StudioError(f"{MEASURE_STEPS} training steps took over {MEASURE_TIMEOUT_S} s") from exc
        finally:  # a probe that ran out of time, or was interrupted, leaves nothing running
            stop_worker(worker)
        took = time.perf_counter() - started
        metrics = folder / "metrics.jsonl"
        events = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()] \
            if metrics.exists() else []
    steps = [e["seconds"] for e in events if e["event"] == "step"]
    failed = next((e["message"] for e in events if e["event"] == "error"), "the training worker stopped")
    if len(steps) < 2:
        raise StudioError(f"could not time training steps: {failed}")
    start = next(e for e in events if e["event"] == "start")
    warm = statistics.fmean(steps[1:])
    start_s = max(0.0, took - len(steps) * warm)
    where = "this CPU" if start["device"] == "cpu" else f"this {start['device']}"
    return TrainPace(warm, start_s,
                     f"measured now: {len(steps)} optimizer steps of typical length on {where} "
                     f"({start['precision']}), {warm:.1f} s a step after the first, plus {start_s:.0f} s to load "
                     "the model and save")


def typical_step(rows: list[dict], student: Student, draws: int = 51) -> list[dict]:
    """The rows of one optimizer step, of the median size among seeded random steps: the characters it computes
    on, cut at `max_seq_length` (about 4 a token), padded batches costing rows x their longest, packed ones
    their sum."""
    from studio.train.loop import micro_batches

    def size(step: list[dict]) -> int:
        chars = [min(len(r["question"] + r["text"]), 4 * student.max_seq_length) for r in step]
        batches = [chars[i:i + student.batch_size] for i in range(0, len(chars), student.batch_size)]
        return sum(sum(b) if student.packing else len(b) * max(b) for b in batches)

    rng = random.Random(student.seed)
    steps = sorted((rng.sample(rows, min(student.batch_size * micro_batches(student), len(rows)))
                    for _ in range(draws)), key=size)
    return steps[len(steps) // 2]


def measure_episodes(recipe: Recipe, store: Store, agent: str, questions: list[Question]) -> EpisodePace:
    """Evaluation episodes of `agent` (the prompted student or the teacher) on `questions` with each method, as the
    evaluation runs them: on its engine, started as it starts it, as many in flight as `questions` (see
    `probe_questions`); nothing is stored. The wall time is split by `dry_run_split`."""
    from studio.llm.engines import resolved_name
    from studio.stages.episodes import Part, Plan, run_episodes
    from studio.stages.runner import agent_backend, in_flight, machine_price_per_hour, open_environment
    from studio.stages.runs import StageContext

    ev = recipe.evaluation
    started = time.perf_counter()
    with agent_backend(recipe, agent, None) as model, open_environment(recipe, store) as env:
        plan = Plan("evaluate", [Part(agent, method, questions) for method in ev.methods], models={agent: model})
        episodes = run_episodes(StageContext(recipe, store), plan, env)  # nothing stored
    wall_s = time.perf_counter() - started
    failed = [e.error for e in episodes if e.error]
    timed = [e for e in episodes if not e.error]
    if not timed:
        raise StudioError("could not time an evaluation episode: " + (failed[0] if failed else "none ran"))
    if agent == "teacher":
        who = "the teacher on " + ("its endpoint" if recipe.teacher.backend == "openai" else
                                   resolved_name(recipe.teacher.engine))
    else:
        who = f"the prompted student on {resolved_name(ev.engine)}"
    start_s, per_episode = dry_run_split(wall_s, episodes)
    at_once = min(in_flight(recipe, agent), len(questions))
    return EpisodePace(per_episode, statistics.fmean(e.cost for e in timed),
                       f"measured now: {len(timed)} episode(s) of {who}, {at_once} at a time as the evaluation runs "
                       f"them, plus {start_s:.0f} s once to start the model and the tools",
                       start_s=start_s, start_cost=start_s * machine_price_per_hour(recipe, agent, "evaluate") / 3600)
