"""Which stored trajectories become training examples: the recipe's data filters and mix for the teacher's
trajectories (the paper's FireAct data mixes ReAct, CoT and Reflexion over several tasks; the mix takes the
largest set whose proportions match the recipe's weights, drawn with its seed), and the rounds' keep rule for
the student's own attempts. Pure functions of rows."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from studio.tasks import question_key

if TYPE_CHECKING:
    from studio.recipe.schema import Data, Rounds


def _mix(rows: list[dict[str, Any]], column: str, weights: dict[str, float] | None,
         rng: random.Random) -> list[dict[str, Any]]:
    """Subsample rows so each `column` value's share follows `weights`. Values without weight are dropped;
    weighted values with no rows at all are ignored rather than emptying the set."""
    if not weights:
        return rows
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if weights.get(row[column], 0) > 0:
            groups.setdefault(row[column], []).append(row)
    total_w = sum(weights[v] for v in groups)
    # the largest total N with N * share(v) <= available(v) for every weighted value present
    n = min((len(group) * total_w / weights[v] for v, group in groups.items()), default=0)
    picked = []
    for value, group in groups.items():
        picked += rng.sample(group, int(n * weights[value] / total_w + 1e-9))
    return picked


KEPT_COLUMNS = ("run_id", "key", "question", "text", "n_steps", "em", "f1", "error", "prediction")  # what kept reads


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


def demonstration(row: dict[str, Any]) -> bool:
    """A tool-calling conversation imported from a public file (OpenAI or ShareGPT format): it has no gold, so its
    correctness is unknown, and it may end on calls (single-turn call sets do). The file is the curated data, so
    it counts as right and finished; dropping it would empty the training set of every such import."""
    return row.get("format") == "tools" and row.get("gold") is None and row.get("correct") is None


def select(rows: list[dict[str, Any]], spec: Data) -> list[dict[str, Any]]:
    """The rows that make the training set by the recipe's `data` settings (finished without error, then its
    filters, dedupe, method and task mix and cap, drawn with its seed), in a stable order. An imported tool-calling
    demonstration passes `correct_only` and the finished filter (see `demonstration`)."""
    rows = [r for r in rows if r["error"] is None and (r["prediction"] is not None or demonstration(r))]
    if spec.correct_only:
        rows = [r for r in rows if r["correct"] or demonstration(r)]
    if spec.max_steps is not None:
        rows = [r for r in rows if r["n_steps"] <= spec.max_steps]
    if spec.dedupe:
        seen: set[tuple[str, str]] = set()
        unique = []
        for r in rows:
            if (r["question"], r["method"]) not in seen:
                seen.add((r["question"], r["method"]))
                unique.append(r)
        rows = unique
    rng = random.Random(spec.seed)
    rows = _mix(rows, "method", spec.method_mix, rng)
    rows = _mix(rows, "task", spec.task_mix, rng)
    if spec.max_examples is not None and len(rows) > spec.max_examples:
        rows = rng.sample(rows, spec.max_examples)
    return sorted(rows, key=lambda r: (r["run_id"], r["key"]))
