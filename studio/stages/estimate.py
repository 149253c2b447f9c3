"""What a recipe will cost before it runs: teacher calls, tokens and dollars, search calls, training tokens and
time, evaluation episodes and time.

The teacher's figures come from a dry run: the teacher answers a few of the recipe's questions with each
method (nothing is stored), and the per-episode means are multiplied by the episodes still to run. Training
time comes from the trainer's throughput measured on this machine (the last finished train run of the same
student in this store); evaluation time from the machine seconds per episode of earlier evaluations of the
same model and agent. Where nothing was measured yet, the figure is left open and the line says so.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

from storage import Store
from studio.llm.base import Backend, Completion, Request
from studio.recipe.fingerprint import fingerprint
from studio.recipe.schema import Recipe


@dataclass
class Line:
    stage: str
    item: str
    value: float | None  # None: not known before the run (the basis says why)
    unit: str
    basis: str

    @property
    def shown(self) -> str:
        if self.value is None:
            return "unknown"
        return f"${self.value:.4f}" if self.unit == "USD" else f"{self.value:,.0f} {self.unit}".strip()


@dataclass
class Estimate:
    recipe: str
    lines: list[Line] = field(default_factory=list)

    def add(self, stage: str, item: str, value: float | None, unit: str, basis: str) -> None:
        self.lines.append(Line(stage, item, value, unit, basis))

    def value(self, stage: str, item: str) -> float | None:
        return next((line.value for line in self.lines if (line.stage, line.item) == (stage, item)), None)

    def table(self) -> str:
        """The estimate as a plain-text table."""
        rows = [("stage", "what", "estimate", "from")]
        rows += [(line.stage, line.item, line.shown, line.basis) for line in self.lines]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
                         for r in rows)


class _Counting:
    """A backend that counts the requests it is sent (the dry run's teacher calls)."""

    def __init__(self, backend: Backend):
        self.backend, self.model, self.calls = backend, backend.model, 0

    def generate(self, requests: list[Request], stop: list[str], max_tokens: int) -> list[Completion]:
        self.calls += len(requests)
        return self.backend.generate(requests, stop, max_tokens)

    def release(self, key: str) -> None:
        self.backend.release(key)


def estimate(recipe: Recipe, store: Store, sample: int = 2, backend: Backend | None = None) -> Estimate:
    """The recipe's estimate; the dry run asks the teacher `sample` questions per method (or uses `backend`)."""
    out = Estimate(recipe.name)
    examples = _generate(recipe, store, sample, backend, out)
    _train(recipe, store, examples, out)
    _evaluate(recipe, store, out)
    if recipe.rounds.count:
        _rounds(recipe, store, out)
    return out


def _remaining(store: Store, recipe: Recipe, stage: str, keys: list[str]) -> int:
    found = store.find_run(recipe.name, stage, fingerprint(recipe, stage))
    done = store.done_keys(found["id"]) if found else set()
    return sum(key not in done for key in keys)


def _generate(recipe: Recipe, store: Store, sample: int, backend: Backend | None, out: Estimate) -> float | None:
    """Teacher lines; returns the expected number of training examples when trajectories are generated."""
    import contextlib

    from studio.llm.engines import open_teacher
    from studio.stages.generate import generation_questions
    from studio.stages.runner import episode_runner
    from studio.tools.search import Search
    from studio.trajectories.episode import episode_key

    if recipe.trajectories.source == "import":
        out.add("generate", "teacher calls", 0, "", f"trajectories imported from {recipe.trajectories.path}")
        return None
    teacher, noise = recipe.teacher, recipe.tool.noise.p
    questions = generation_questions(recipe)
    keys = [episode_key("teacher", m, q.task, q.split, q.id, noise) for m in recipe.methods for q in questions]
    remaining = _remaining(store, recipe, "generate", keys)
    episodes = []
    with contextlib.ExitStack() as stack:
        model = _Counting(backend or stack.enter_context(open_teacher(teacher)))
        search = Search(recipe.tool, store)
        started = time.perf_counter()
        for method in recipe.methods:
            episode_runner(recipe, "teacher", method, model, search, purpose="generate",
                           noise=noise).run(questions[:sample], episodes.append)
        seconds = time.perf_counter() - started
    n = max(1, len(episodes))
    basis = f"dry run of {len(episodes)} episode(s) x {remaining} to run"
    per = {"calls": model.calls / n, "in": sum(e.tokens_in for e in episodes) / n,
           "out": sum(e.tokens_out for e in episodes) / n, "cost": sum(e.cost for e in episodes) / n,
           "searches": sum(s.action == "search" for e in episodes for s in e.steps) / n}
    out.add("generate", "episodes", remaining, "", f"{len(keys)} in the recipe, {len(keys) - remaining} done")
    out.add("generate", "teacher calls", per["calls"] * remaining, "", basis)
    out.add("generate", "teacher tokens in", per["in"] * remaining, "tokens", basis)
    out.add("generate", "teacher tokens out", per["out"] * remaining, "tokens", basis)
    out.add("generate", "teacher cost", per["cost"] * remaining, "USD",
            basis + f" at ${teacher.price_input_per_m}/${teacher.price_output_per_m} per M tokens in/out")
    out.add("generate", "search calls", per["searches"] * remaining, "", basis + " (cached queries are free)")
    out.add("generate", "time", seconds / n * remaining, "s",
            basis + f" at its pace ({sample} in flight; more in flight is faster where the server batches)")
    right = sum(bool(e.correct) for e in episodes) / n
    return remaining * (right if recipe.data.correct_only else 1.0)


def _train(recipe: Recipe, store: Store, expected: float | None, out: Estimate) -> None:
    from studio.stages.training_data import source_run, training_rows

    student = recipe.student
    trained = store.find_run(recipe.name, "train", fingerprint(recipe, "train"))
    if trained is not None and trained["status"] == "done":
        out.add("train", "optimizer steps", 0, "", f"run {trained['id']} already trained these settings")
        out.add("train", "time", 0, "s", f"run {trained['id']} already trained these settings")
        return
    source = source_run(recipe, store)
    if source is not None:
        rows = training_rows(store, [source], recipe.data)
        examples, basis = float(len(rows)), f"run {source}'s trajectories through the data filters"
        texts = [r["question"] + r["text"] for r in rows[:200]]
    elif expected is not None:
        examples, basis, texts = expected, "the dry run's share of correct episodes", []
    else:
        from studio.paths import resolve
        from studio.trajectories.files import episodes_from_file

        found = episodes_from_file(resolve(recipe.trajectories.path), recipe.trajectories.format,
                                   recipe.trajectories.task)
        examples, basis = float(len(found)), f"{recipe.trajectories.path} (before the data filters)"
        texts = [e.question + e.text for e in found[:200]]
    if recipe.data.max_examples is not None:
        examples = min(examples, recipe.data.max_examples)
    out.add("train", "examples", examples, "", basis)
    per_step = student.batch_size * student.grad_accum
    steps = student.max_steps or math.ceil(student.epochs * examples / per_step)
    tokens_per_example = min(student.max_seq_length, statistics.fmean(len(t) for t in texts) / 4) if texts else None
    tokens = steps * per_step * tokens_per_example if tokens_per_example else None
    out.add("train", "optimizer steps", steps, "", "student.max_steps" if student.max_steps else
            f"{student.epochs:g} epoch(s) of {per_step} examples a step")
    out.add("train", "tokens", tokens, "tokens", "about 4 characters a token" if tokens else "no text to measure yet")
    speed = store.query(
        "SELECT m.run_id, median(m.tokens_per_s) AS s FROM train_metrics m JOIN runs r ON r.id = m.run_id "
        "WHERE r.stage = 'train' AND r.status = 'done' AND json_extract_string(r.recipe, '$.student.model') = ? "
        "GROUP BY m.run_id ORDER BY m.run_id DESC LIMIT 1", [student.model])
    if speed and tokens and speed[0]["s"]:
        out.add("train", "time", tokens / speed[0]["s"], "s",
                f"run {speed[0]['run_id']} trained {speed[0]['s']:.0f} tokens/s on this machine")
    else:
        out.add("train", "time", None, "s", "no finished training of this student in this store to measure by")


def _evaluate(recipe: Recipe, store: Store, out: Estimate) -> None:
    from studio.tasks import draw
    from studio.trajectories.episode import episode_key

    ev = recipe.evaluation
    questions = [q for s in ev.sets for q in draw(s.task, s.split, s.path, s.n, None)]
    total, seconds, unknown = 0, 0.0, []
    for agent in ev.agents:
        keys = [episode_key(agent, m, q.task, q.split, q.id, p) for m in ev.methods for p in ev.noise_levels
                for q in questions]
        remaining = _remaining(store, recipe, "evaluate", keys)
        total += remaining
        pace = _seconds_per_episode(recipe, store, agent)
        if pace is not None:
            seconds += pace * remaining
        elif remaining:
            unknown.append(agent)
    out.add("evaluate", "episodes", total, "", f"{len(questions)} questions x agents x methods x noise levels, "
            "minus those done")
    basis = "machine seconds per episode of earlier evaluations in this store"
    out.add("evaluate", "time", None if unknown else seconds, "s",
            basis + (f"; none yet for {', '.join(unknown)}" if unknown else ""))


def _seconds_per_episode(recipe: Recipe, store: Store, agent: str) -> float | None:
    """Machine seconds per episode of this agent's model in earlier evaluations in this store."""
    model = recipe.teacher.model if agent == "teacher" else recipe.student.model
    past = store.query("SELECT avg(compute_s) AS s FROM trajectories t JOIN runs r ON r.id = t.run_id "
                       "WHERE r.stage = 'evaluate' AND t.agent = ? AND json_extract_string(r.recipe, ?) = ?",
                       [agent, "$.teacher.model" if agent == "teacher" else "$.student.model", model])
    return past[0]["s"] if past else None


def _rounds(recipe: Recipe, store: Store, out: Estimate) -> None:
    """Self-improvement rounds: the student's attempts and evaluations (paced like earlier fine-tuned episodes)
    and each round's training (its set: the weighted teacher examples plus the kept attempts expected at the
    fine-tuned agent's EM so far)."""
    from studio.stages.rounds import round_questions
    from studio.stages.training_data import source_run, training_rows

    rounds, student, ev = recipe.rounds, recipe.student, recipe.evaluation
    per_round = sum(source.n for source in rounds.questions)
    attempts = per_round * rounds.samples * len(rounds.methods) * rounds.count
    evaluations = sum(s.n for s in ev.sets) * len(ev.methods) * len(ev.noise_levels) * rounds.count
    out.add("rounds", "student attempts", attempts, "", f"{rounds.count} round(s) x {per_round} questions x "
            f"{rounds.samples} attempt(s) x {len(rounds.methods)} method(s)")
    out.add("rounds", "evaluation episodes", evaluations, "", f"{rounds.count} round(s) x the evaluation sets")
    pace = _seconds_per_episode(recipe, store, "finetuned")
    out.add("rounds", "time (attempts and evaluations)", None if pace is None else pace * (attempts + evaluations),
            "s", "machine seconds per episode of earlier fine-tuned evaluations in this store" if pace is not None
            else "no fine-tuned evaluation in this store to measure by")
    right = store.query("SELECT avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS r FROM trajectories t JOIN runs r "
                        "ON r.id = t.run_id WHERE r.stage = 'evaluate' AND r.recipe_name = ? AND t.agent = "
                        "'finetuned'", [recipe.name])[0]["r"] or 0.0
    source = source_run(recipe, store)
    teacher = len(training_rows(store, [source], recipe.data)) if source is not None else 0
    kept_per_round = per_round * min(rounds.max_per_question, 1 - (1 - right) ** rounds.samples)
    epochs = rounds.epochs or student.epochs
    steps = sum(math.ceil(epochs * (teacher * rounds.teacher_weight + kept_per_round * r * rounds.student_weight)
                          / (student.batch_size * student.grad_accum)) for r in range(1, rounds.count + 1))
    out.add("rounds", "optimizer steps", steps, "", f"{teacher} teacher examples x {rounds.teacher_weight:g} + "
            f"{kept_per_round:.0f} kept attempts per round (at fine-tuned EM {100 * right:.0f}% so far) x "
            f"{rounds.student_weight:g}, {epochs:g} epoch(s) a round")
    round_questions(recipe, rounds.count)  # a pool too small for the last round is an error now, not in hours
