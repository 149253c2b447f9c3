"""Self-improvement rounds: the fine-tuned student answers fresh questions, its good trajectories join the
training set, and it is trained again (rejection sampling, as in ReST and AgentEvol).

Round 0 is the recipe's own generate, train and evaluate. Round r (1, 2, ...) stores three runs of its own:
`explore` (round r-1's adapter answers the round's questions `rounds.samples` times at `rounds.temperature`, on
the evaluation's engine: llama.cpp on a CPU, vLLM on a GPU), `train` (teacher data plus every kept student
attempt so far, weighted) and `evaluate` (the new adapter on the evaluation sets). Each is found again by its
fingerprint, so a killed or cancelled round resumes where it stopped, like every stage.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, replace
from typing import Any

from storage import Store
from studio.agents.trajectory import episode_key
from studio.data import training_rows
from studio.evaluate import agent_runner
from studio.generate import evaluation_questions
from studio.llm.engines import open_backend
from studio.recipe import Recipe, Rounds
from studio.stages import (
    Cancelled,
    EpisodeRun,
    ProgressFn,
    StageError,
    StageResult,
    check_keys,
    fingerprint,
    open_run,
    trained_adapter,
)
from studio.tasks import Question, draw, question_key
from studio.tools.search import Search

SAMPLE_MARK = "#"  # a question's id, the mark and the attempt number: each attempt's own episode key


def round_questions(recipe: Recipe, round: int) -> list[Question]:
    """Round `round`'s questions: the next n of each source's seeded draw, so no two rounds share a question;
    evaluation questions are never drawn."""
    exclude = frozenset(question_key(q.question) for q in evaluation_questions(recipe))
    picked = []
    for i, source in enumerate(recipe.rounds.questions):
        before = {q.id for q in draw(source.task, source.split, source.path, source.n * (round - 1), source.seed,
                                     exclude)}
        fresh = [q for q in draw(source.task, source.split, source.path, source.n * round, source.seed, exclude)
                 if q.id not in before]
        if not fresh:
            raise StageError(f"rounds.questions[{i}]: round {round} has no questions left ({len(before)} were "
                             "used by earlier rounds, evaluation questions left out): add a source or lower "
                             "rounds.count")
        picked += fresh
    return picked


def attempts(questions: list[Question], samples: int) -> list[Question]:
    """Each question `samples` times, with the attempt in its id (the attempts of one question together)."""
    return [replace(q, id=f"{q.id}{SAMPLE_MARK}{s}") for q in questions for s in range(samples)]


def explore(recipe: Recipe, store: Store, round: int, progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> StageResult:
    """Round `round`'s student (round - 1's adapter) answers the round's questions into the round's explore run."""
    rounds = recipe.rounds
    questions = attempts(round_questions(recipe, round), rounds.samples)
    adapter = trained_adapter(recipe, store, round - 1)
    check_keys(recipe, store, "explore", teacher=False, round=round)
    run_id, _ = open_run(store, recipe, "explore", round)
    noise = recipe.tool.noise.p
    done = store.done_keys(run_id)
    plan = {method: [q for q in questions
                     if episode_key("finetuned", method, q.task, q.split, q.id, noise) not in done]
            for method in rounds.methods}
    run = EpisodeRun(store, run_id, "explore", len(questions) * len(rounds.methods), len(done), progress,
                     cancel=cancel, round=round)
    if not any(plan.values()):
        return run.execute(lambda: None)
    search = Search(recipe.tool, store)
    ev = recipe.evaluation

    def work() -> None:
        with open_backend(ev.engine, recipe.student.model, adapter, max_tokens=ev.max_tokens,
                          temperature=rounds.temperature) as model:
            for method, todo in plan.items():
                agent_runner(recipe, "finetuned", method, model, search, noise).run(todo, run.commit, run)

    return run.execute(work)


def kept(rows: list[dict[str, Any]], rounds: Rounds) -> list[dict[str, Any]]:
    """The attempts that join the training set: finished without error, right by `rounds.keep`, distinct in
    text when `rounds.dedupe`, at most `rounds.max_per_question` per question (fewest steps first)."""
    good = [r for r in rows if r["error"] is None and r["prediction"] is not None
            and ((r["em"] or 0) >= 1 if rounds.keep == "em" else (r["f1"] or 0) >= rounds.f1_threshold)]
    good.sort(key=lambda r: (r["n_steps"], r["key"]))
    per_question: dict[str, int] = {}
    texts: set[str] = set()
    out = []
    for row in good:
        question = question_key(row["question"])
        if per_question.get(question, 0) >= rounds.max_per_question or (rounds.dedupe and row["text"] in texts):
            continue
        per_question[question] = per_question.get(question, 0) + 1
        texts.add(row["text"])
        out.append(row)
    return sorted(out, key=lambda r: (r["run_id"], r["key"]))


def explore_run(recipe: Recipe, store: Store, round: int) -> dict[str, Any]:
    found = store.find_run(recipe.name, "explore", fingerprint(recipe, "explore", round))
    if found is None or found["status"] not in ("done", "failed"):
        raise StageError(f"round {round} of recipe {recipe.name!r} has not explored yet: run its rounds stage")
    return found


def student_rows(recipe: Recipe, store: Store, round: int) -> list[dict[str, Any]]:
    """The kept attempts of rounds 1 to `round`."""
    return [row for r in range(1, round + 1)
            for row in kept(store.trajectories(explore_run(recipe, store, r)["id"]), recipe.rounds)]


def _weighted(rows: list[dict[str, Any]], weight: float, rng: random.Random) -> list[dict[str, Any]]:
    """Each row `weight` times: the whole part by repetition, the fraction as a seeded sample."""
    whole = int(weight)
    return rows * whole + rng.sample(rows, round((weight - whole) * len(rows)))


def training_set(recipe: Recipe, store: Store, round: int = 0) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The rows round `round` trains on and how many came from the teacher and from the student. Round 0: the
    recipe's trajectories through its data filters; later rounds add every kept student attempt so far."""
    from studio.pipeline import source_run

    source = source_run(recipe, store)
    if source is None:
        raise StageError(f"recipe {recipe.name!r} has no trajectories yet: run its generate stage first")
    teacher = training_rows(store, [source], recipe.data)
    if not round:
        if not teacher:
            raise StageError(f"no training trajectories in run {source} pass the recipe's data filters")
        return teacher, {"teacher_examples": len(teacher), "student_examples": 0}
    rounds = recipe.rounds
    rng = random.Random(recipe.data.seed + round)
    ours = _weighted(teacher, rounds.teacher_weight, rng)
    theirs = _weighted(student_rows(recipe, store, round), rounds.student_weight, rng)
    if not ours + theirs:
        raise StageError(f"round {round} has nothing to train on: no teacher example passes the data filters and "
                         "no student attempt was kept (try more rounds.samples, a higher rounds.temperature or "
                         "rounds.keep: f1)")
    return ours + theirs, {"teacher_examples": len(ours), "student_examples": len(theirs)}


@dataclass
class RoundResult:
    round: int
    explore: StageResult
    train: Any  # TrainResult (its module imports torch-free, but late, like the pipeline does)
    evaluate: StageResult


@dataclass
class RoundsResult:
    """What the rounds stage did, round by round."""

    rounds: list[RoundResult]

    @property
    def ok(self) -> bool:
        return all(r.explore.ok and r.evaluate.ok for r in self.rounds)

    @property
    def run_id(self) -> int | None:
        return self.rounds[-1].evaluate.run_id if self.rounds else None

    @property
    def run_ids(self) -> list[int]:
        return [r.run_id for rr in self.rounds for r in (rr.explore, rr.train, rr.evaluate)]

    def summary(self) -> str:
        if not self.rounds:
            return "no rounds (rounds.count is 0)"
        return "; ".join(f"round {r.round}: explore run {r.explore.run_id} ({r.explore.ran} ran, {r.explore.skipped} "
                         f"done before), train run {r.train.run_id} {r.train.status}, evaluate run "
                         f"{r.evaluate.run_id} ({r.evaluate.ran} ran)" for r in self.rounds)


def run_rounds(recipe: Recipe, store: Store, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> RoundsResult:
    """Rounds 1 to `rounds.count`, each explore, train, evaluate; a finished stage is skipped on a rerun."""
    from studio.evaluate import evaluate
    from studio.tracking import track
    from studio.train.stage import train

    done = []
    for r in range(1, recipe.rounds.count + 1):
        explored = explore(recipe, store, r, progress, cancel)
        if explored.ran:
            track(recipe, store, f"round {r} explore", explored.run_id)
        trained = train(recipe, store, progress, cancel, round=r)
        if trained.status == "cancelled":
            raise Cancelled("training cancelled")
        if trained.status != "skipped":
            track(recipe, store, f"round {r} train", trained.run_id)
        scored = evaluate(recipe, store, progress, cancel=cancel, round=r)
        if scored.ran:
            track(recipe, store, f"round {r} evaluate", scored.run_id)
        done.append(RoundResult(r, explored, trained, scored))
    return RoundsResult(done)


def _found(store: Store, recipe: Recipe, stage: str, round: int) -> dict[str, Any] | None:
    return store.find_run(recipe.name, stage, fingerprint(recipe, stage, round))


def round_table(store: Store, recipe: Recipe) -> list[dict[str, Any]]:
    """One row per round (0 to `rounds.count`) of the recipe as it is now: its runs and their status, what the
    student explored and kept, the training set (teacher and student examples) and the fine-tuned agent's EM
    with its 95% interval on each evaluation task and method; a later round also the questions it got right
    that round 0 did not and the reverse (`vs_round0`, with the exact McNemar p: is the change more than chance?)."""
    from studio.insight import Side, compare
    from studio.scores import scores

    table = []
    for r in range(recipe.rounds.count + 1):
        row: dict[str, Any] = {"round": r, "explore": None, "train": None, "evaluate": None, "attempts": 0,
                               "right": 0, "kept": 0, "teacher_examples": None, "student_examples": None, "scores": [],
                               "vs_round0": None}
        explored = _found(store, recipe, "explore", r) if r else None
        if explored is not None:
            episodes = store.trajectories(explored["id"])
            row.update(explore=explored, attempts=len(episodes), right=sum(bool(e["correct"]) for e in episodes),
                       kept=len(kept(episodes, recipe.rounds)))
        trained = _found(store, recipe, "train", r)
        if trained is not None:
            summary = trained["summary"] or {}
            row.update(train=trained, teacher_examples=summary.get("teacher_examples", summary.get("examples")),
                       student_examples=summary.get("student_examples", 0))
        scored = _found(store, recipe, "evaluate", r)
        if scored is not None:
            row.update(evaluate=scored, scores=[s for s in scores(store, [scored["id"]])
                                                if s["agent"] == "finetuned" and not s["noise"]])
            first = table[0]["evaluate"] if r else None
            if first is not None:
                paired = compare(store, Side(first["id"], "finetuned"), Side(scored["id"], "finetuned"), limit=0)
                row["vs_round0"] = {"gained": paired.only_b, "lost": paired.only_a, "p": paired.p_value}
        table.append(row)
    return table


def student_share(row: dict[str, Any]) -> float | None:
    """The share (%) of a round's training examples the student wrote."""
    teacher, student = row["teacher_examples"], row["student_examples"]
    return 100 * student / (teacher + student) if teacher is not None and teacher + student else None


def training_text(row: dict[str, Any]) -> str | None:
    """A round's training set in words: "120 teacher + 30 student examples (20% student)"."""
    if row["teacher_examples"] is None:
        return None
    if not row["round"]:
        return f"{row['teacher_examples']} teacher examples"
    share = student_share(row)
    return (f"{row['teacher_examples']} teacher + {row['student_examples']} student examples"
            + (f" ({share:.0f}% student)" if share else ""))


def change_text(row: dict[str, Any]) -> str | None:
    """A round's change against round 0 in words: "16 gained, 11 lost (exact McNemar p 0.44)"."""
    change = row["vs_round0"]
    if change is None:
        return None
    return f"{change['gained']} gained, {change['lost']} lost (exact McNemar p {change['p']:.2f})"


def format_rounds(table: list[dict[str, Any]]) -> str:
    """The rounds as text lines (the CLI and the benchmark print them)."""
    lines = []
    for row in table:
        data = training_text(row) or "not trained"
        explored = f"{row['right']}/{row['attempts']} attempts right, {row['kept']} kept; " if row["round"] else ""
        scores = ", ".join(f"{s['task']}/{s['method']} EM {s['em']:.1f} [{s['em_lo']:.1f}, {s['em_hi']:.1f}] "
                           f"(n={s['questions']})" for s in row["scores"]) or "not evaluated"
        change = f"; against round 0: {change_text(row)}" if row["vs_round0"] else ""
        lines.append(f"round {row['round']}: {explored}{data}; {scores}{change}")
    return "\n".join(lines)
