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
    for row in store.query(
        "SELECT run_id, 'method' AS kind, method AS value, count(*) AS n FROM trajectories GROUP BY ALL "
        "UNION ALL SELECT run_id, 'task', task, count(*) FROM trajectories GROUP BY ALL"
    ):
        counts.setdefault(row["run_id"], {"method": {}, "task": {}})[row["kind"]][row["value"]] = row["n"]
    metrics = {
        row.pop("run_id"): row
        for row in store.query(
            "SELECT run_id, count(*) AS trajectories, avg(em) AS em, avg(f1) AS f1, "
            "avg(CASE WHEN correct THEN 1.0 WHEN NOT correct THEN 0.0 END) AS correct_rate, "
            "avg(CASE WHEN finished THEN 1.0 ELSE 0.0 END) AS finished_rate, avg(n_steps) AS mean_steps, "
            "sum(cost) AS cost, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, "
            "sum(latency_s) AS time_s, count(error) AS errors FROM trajectories GROUP BY run_id"
        )
    }
    train = {
        row.pop("run_id"): row
        for row in store.query(
            "SELECT run_id, max(step) AS train_steps, arg_max(loss, step) AS final_loss "
            "FROM train_metrics GROUP BY run_id"
        )
    }
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
