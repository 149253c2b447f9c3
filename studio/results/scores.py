"""Scores of stored episodes per agent x task x method x noise, read from DuckDB, with 95% intervals for EM
(Wilson) and F1 (bootstrap): what the results table, `report --json`, model cards and the dashboards show."""

from __future__ import annotations

import math
from typing import Any

from storage import Store


def scores(store: Store, run_ids: list[int]) -> list[dict[str, Any]]:
    """One row per run x agent x model x task x method x noise level, with `em_lo/em_hi`, `f1_lo/f1_hi`."""
    if not run_ids:
        return []
    return with_intervals(store, store.score_rows(run_ids))


RESAMPLES = 1000  # bootstrap resamples of a group's mean
BOOTSTRAP_MAX_N = 1000  # above this many values the bootstrap and the normal interval agree: the latter is used
Z95 = 1.959963984540054


def interval(values: list[float], level: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """A `level` interval of the mean of `values`; None if empty. Right/wrong values (EM) get the Wilson
    interval of a proportion: a bootstrap collapses to [0, 0] when none is right, which 0 of 20 does not
    prove. Other values (F1) get the percentile bootstrap, or the normal interval for large groups."""
    import numpy as np

    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return None
    if np.isin(data, (0.0, 1.0)).all():
        return wilson(float(data.sum()), int(data.size))
    if data.size > BOOTSTRAP_MAX_N:
        return normal_interval(float(data.mean()), float(data.std(ddof=1)), int(data.size))
    tail = (1 - level) / 2
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, (RESAMPLES, data.size))].mean(axis=1)
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def wilson(right: float, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of `right` successes in `n`."""
    p, z2 = right / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def normal_interval(mean: float, std: float, n: int) -> tuple[float, float]:
    half = Z95 * std / math.sqrt(n)
    return mean - half, mean + half


def with_intervals(store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score rows (from `studio.results.scores.scores`) with `em_lo/em_hi` and `f1_lo/f1_hi`: their 95% intervals, in %.
    Small groups are bootstrapped from their values; large ones get the normal interval from SQL's mean and
    deviation, so no large group's values leave the database."""
    if not rows:
        return rows
    ids = sorted({r["run_id"] for r in rows})
    small = BOOTSTRAP_MAX_N
    found = store.score_groups(ids, small)
    by_group = {_group(v): v for v in found}
    out = []
    for row in rows:
        group = by_group.get(_group(row), {})
        extra = {}
        for metric in ("em", "f1"):
            n = group.get(f"{metric}_n", 0)
            if n > small and group[f"{metric}_binary"]:
                bounds = wilson(group[f"{metric}_mean"] * n, n)
            elif n > small:
                bounds = normal_interval(group[f"{metric}_mean"], group[f"{metric}_std"] or 0.0, n)
            else:
                bounds = interval(group.get(metric) or [])
            extra[f"{metric}_lo"], extra[f"{metric}_hi"] = (
                (round(100 * bounds[0], 2), round(100 * bounds[1], 2)) if bounds else (None, None))
        out.append(row | extra)
    return out


def _group(row: dict[str, Any]) -> tuple:
    return row["run_id"], row["agent"], row["model"], row["task"], row["method"], row["noise"]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The scores as a plain-text table for the terminal."""
    header = ("agent", "task", "method", "noise", "n", "EM", "EM 95%", "F1", "fin%", "steps", "tok in", "tok out",
              "wait s", "compute s", "$/1k q")
    def cell(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [header]
    for r in rows:
        spread = "-" if r.get("em_lo") is None else f"{r['em_lo']:.1f}-{r['em_hi']:.1f}"
        lines.append((r["agent"], r["task"], r["method"], f"{r['noise']:g}", str(r["questions"]), cell(r["em"], 1),
                      spread, cell(r["f1"], 1), cell(r["finished_pct"], 0), cell(r["mean_steps"], 2),
                      cell(r["tokens_in"], 0), cell(r["tokens_out"], 0), cell(r["latency_s"], 2),
                      cell(r["compute_s"], 2), cell(r["cost_per_1000"], 4)))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in lines)
