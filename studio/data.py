"""Training data from stored trajectories: filter, dedupe, mix by method and task, cap.

The paper's FireAct data mixes ReAct, CoT and Reflexion trajectories over several tasks; the mix here
takes the largest set whose proportions match the recipe's weights, drawn with the recipe's seed.
"""

from __future__ import annotations

import random
from typing import Any

from storage import Store
from studio.recipe import Data


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


def training_rows(store: Store, run_ids: list[int], spec: Data) -> list[dict[str, Any]]:
    """Stored trajectories of the given runs that make the training set, in a stable order."""
    rows = [r for run_id in run_ids for r in store.trajectories(run_id)]
    rows = [r for r in rows if r["error"] is None and r["prediction"] is not None]
    if spec.correct_only:
        rows = [r for r in rows if r["correct"]]
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
