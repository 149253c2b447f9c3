"""Scores of stored episodes per agent x task x method x noise, read from DuckDB: what the results table,
`report --json` and the dashboards show."""

from __future__ import annotations

from typing import Any

from storage import Store

SCORES_SQL = """
SELECT run_id, agent, model, task, method, noise,
       count(*) AS questions,
       round(100 * avg(em), 2) AS em,
       round(100 * avg(f1), 2) AS f1,
       round(100 * avg(CASE WHEN finished THEN 1.0 ELSE 0.0 END), 2) AS finished_pct,
       round(avg(n_steps), 3) AS mean_steps,
       round(avg(tokens_in), 1) AS tokens_in,
       round(avg(tokens_out), 1) AS tokens_out,
       round(avg(latency_s), 3) AS latency_s,
       round(avg(compute_s), 3) AS compute_s,
       round(1000 * avg(cost), 4) AS cost_per_1000
FROM trajectories
WHERE run_id IN ({ids}) AND error IS NULL
GROUP BY ALL
ORDER BY run_id, task, method, noise, agent
"""


def scores(store: Store, run_ids: list[int]) -> list[dict[str, Any]]:
    """One row per run x agent x model x task x method x noise level."""
    if not run_ids:
        return []
    return store.query(SCORES_SQL.format(ids=", ".join("?" * len(run_ids))), list(run_ids))


def format_table(rows: list[dict[str, Any]]) -> str:
    """The scores as a plain-text table for the terminal."""
    header = ("agent", "task", "method", "noise", "n", "EM", "F1", "fin%", "steps", "tok in", "tok out", "wait s",
              "compute s", "$/1k q")
    def cell(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [header]
    for r in rows:
        lines.append((r["agent"], r["task"], r["method"], f"{r['noise']:g}", str(r["questions"]), cell(r["em"], 1),
                      cell(r["f1"], 1), cell(r["finished_pct"], 0), cell(r["mean_steps"], 2), cell(r["tokens_in"], 0),
                      cell(r["tokens_out"], 0), cell(r["latency_s"], 2), cell(r["compute_s"], 2),
                      cell(r["cost_per_1000"], 4)))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in lines)
