"""What every run holds, as plain data: the `report --json` output and the studio's run list."""

from __future__ import annotations

from typing import Any

from storage import Store
from studio.results.scores import scores


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def run_report(store: Store, with_scores: bool = True) -> list[dict[str, Any]]:
    """One entry per run: id, name, stage, status, counts by method and task, the metrics so far, and (unless
    `with_scores` is off, as for the studio's run list) each evaluate run's scores table."""
    counts: dict[int, dict[str, dict[str, int]]] = {}
    for row in store.method_and_task_counts():
        counts.setdefault(row["run_id"], {"method": {}, "task": {}})[row["kind"]][row["value"]] = row["n"]
    metrics = {row.pop("run_id"): row for row in store.episode_metrics()}
    train = {row.pop("run_id"): row for row in store.train_summaries()}
    report = []
    for run in store.list_runs():
        rid = run["id"]
        report.append({
            "id": rid,
            "name": run["name"],
            "recipe": run["recipe_name"],
            "stage": run["stage"],
            "status": run["status"],
            "error": run["error"],
            "created_at": _iso(run["created_at"]),
            "finished_at": _iso(run["finished_at"]),
            "summary": run["summary"] or {},
            "counts": counts.get(rid, {"method": {}, "task": {}}),
            "metrics": {k: (round(v, 6) if isinstance(v, float) else v)
                        for k, v in (metrics.get(rid, {}) | train.get(rid, {})).items()},
            "scores": scores(store, [rid]) if with_scores and run["stage"] == "evaluate" else [],
        })
    return report
