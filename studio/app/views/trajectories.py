"""The Trajectories tab's views: the episode list filtered and paged in the store, one episode, and two agents (or
runs) compared question by question, their episodes as card timelines side by side.

Imports the results' insight, the stages' stored tool lists and the studio's cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.app.views.markdown import chance, esc
from studio.app.views.runs import run_choices
from studio.app.views.state import Studio
from studio.results.insight import Comparison, Side, compare, sides
from studio.stages.runs import stored_tools

TRAJECTORY_LIMIT = 500  # rows the trajectory table shows at once
TRAJECTORY_COLUMNS = ["run", "agent", "correct", "question", "prediction", "gold"]  # what fits a page
MORE_COLUMNS = ["task", "method", "outcome", "steps"]  # on demand; a clicked row's episode view shows them all
ALL_COLUMNS = ["run", "task", "method", "agent", "correct", "outcome", "steps", "question", "prediction", "gold"]


def trajectory_options(studio: Studio) -> dict[str, list[str]]:
    """Distinct values of the filterable columns, for the filter dropdowns."""
    out = {}
    for column in ("task", "method", "agent"):
        out[column] = studio.store.trajectory_values(column)
    return out


LIST_COLUMNS = ("run_id", "key", "task", "method", "agent", "correct", "outcome", "n_steps", "question",
                "prediction", "gold")


@dataclass
class TrajectoryPage:
    """One page of the episode list: its rows, how many match in all, and which page of how many it is
    (`page` is the asked page clamped to 1..pages; `asked` is what was asked)."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    asked: int

    def summary(self) -> str:
        """"20 episode(s)", with the page when there are several, and a note when the asked page was not one."""
        shown = f"{self.total} episode(s)" + (f", page {self.page} of {self.pages}" if self.pages > 1 else "")
        if self.asked != self.page:
            shown += f" (there is no page {self.asked}: showing page {self.page})"
        return shown


def find_trajectories(studio: Studio, run_id: int | None = None, task: str | None = None, method: str | None = None,
                      agent: str | None = None, correct: bool | None = None, outcome: str | None = None,
                      page: int = 1) -> TrajectoryPage:
    """Page `page` (from 1, TRAJECTORY_LIMIT a page) of the episodes matching the filters (empty: any), and the
    full count; the list columns only. A page past the last shows the last (before the first, the first)."""
    filters = {"run_id": int(run_id) if run_id not in (None, "") else None, "task": task or None,
               "method": method or None, "agent": agent or None, "correct": correct, "outcome": outcome or None}
    asked = int(page or 1)
    shown = max(1, asked)
    rows, total = studio.store.trajectory_page(LIST_COLUMNS, TRAJECTORY_LIMIT, (shown - 1) * TRAJECTORY_LIMIT,
                                               **filters)
    pages = max(1, -(-total // TRAJECTORY_LIMIT))
    if shown > pages:
        shown = pages
        rows, total = studio.store.trajectory_page(LIST_COLUMNS, TRAJECTORY_LIMIT, (shown - 1) * TRAJECTORY_LIMIT,
                                                   **filters)
    return TrajectoryPage(rows, total, shown, pages, asked)


def trajectory_rows(rows: list[dict[str, Any]], more: bool = False) -> dict[str, Any]:
    """The table of a page (headers and rows): the key columns, or with `more` every list column."""
    def short(text: Any, n: int) -> str:
        text = "" if text is None else str(text)
        return text if len(text) <= n else text[: n - 1] + "…"

    columns = ALL_COLUMNS if more else TRAJECTORY_COLUMNS
    data = [{"run": r["run_id"], "task": r["task"], "method": r["method"], "agent": r["agent"],
             "correct": "" if r["correct"] is None else bool(r["correct"]), "outcome": r["outcome"] or "",
             "steps": r["n_steps"], "question": short(r["question"], 120), "prediction": short(r["prediction"], 60),
             "gold": short(r["gold"], 60)} for r in rows]
    return {"headers": columns, "data": [[row[c] for c in columns] for row in data]}


COMPARE_COLUMNS = ["task", "method", "question", "gold", "A answer", "A right", "B answer", "B right"]


def side_choices(studio: Studio) -> list[tuple[str, str]]:
    """Every (run, agent) a comparison can pick, as dropdown (label, value) pairs; `_side` reads the value back."""
    return [(s.label, f"{s.run_id}|{s.agent}") for s in sides(studio.store)]


def _side(value: str) -> Side:
    """`"12|finetuned"` (a dropdown value) -> Side(12, "finetuned")."""
    run_id, _, agent = value.partition("|")
    return Side(int(run_id), agent)


def compare_sides(studio: Studio, a: str, b: str, only: str | None) -> Comparison:
    return compare(studio.store, _side(a), _side(b), only, limit=TRAJECTORY_LIMIT)


def comparison_markdown(found: Comparison) -> str:
    n = len(found.rows)
    if not n:
        return f"No question answered by both {esc(found.a.label)} and {esc(found.b.label)}."
    both, neither = found.count(True, True), found.count(False, False)
    return (f"**{n} paired questions** · both right {both} · only A ({esc(found.a.label)}) {found.only_a} · "
            f"only B ({esc(found.b.label)}) {found.only_b} · neither {neither} · exact McNemar "
            f"**p = {found.p_value:.3g}**: {chance(found.p_value)}")


def comparison_rows(found: Comparison) -> list[list[Any]]:
    return [[r["task"], r["method"], r["question"], r["gold"] or "", r["a_prediction"] or "", bool(r["a_correct"]),
             r["b_prediction"] or "", bool(r["b_correct"])] for r in found.shown]


def pair_lanes(studio: Studio, a: str, b: str, a_key: str, b_key: str) -> list[str]:
    """Both episodes of a paired question, as card timelines side by side."""
    from studio.app.cards import lane_html, stored_lane, stored_question

    lanes = []
    for side, key in ((_side(a), a_key), (_side(b), b_key)):
        ep = episode(studio, side.run_id, key)
        lanes.append(lane_html(stored_lane(ep, run_tools(studio, side.run_id)), stored_question(ep)) if ep
                     else "That episode is gone.")
    return lanes


def episode(studio: Studio, run_id: int, key: str) -> dict[str, Any] | None:
    rows = studio.store.trajectories(int(run_id), key=key)
    return rows[0] if rows else None


def run_tools(studio: Studio, run_id: int) -> list[dict[str, Any]] | None:
    """The tool list a run's agents were given (None for a run of a recipe with the `tool` section alone)."""
    run = studio.store.get_run(int(run_id))
    return stored_tools(run) if run is not None else None


def any_choices(values: list[str]) -> list[tuple[str, str]]:
    """A filter's dropdown choices: "any" (no filter), then each value."""
    return [("any", ""), *((v, v) for v in values)]


def run_filter_choices(studio: Studio) -> list[tuple[str, str]]:
    """The run filter's dropdown choices: "any run", then every run, newest first."""
    return [("any run", ""), *((label, str(run_id)) for label, run_id in run_choices(studio))]


def episode_view(studio: Studio, run_id: int, key: str) -> tuple[str, str, str]:
    """(meta line, timeline HTML, whole text) of a stored episode."""
    from studio.app.cards import lane_html, stored_lane, stored_question

    ep = episode(studio, run_id, key)
    if ep is None:
        return "That episode is gone.", "", ""
    meta = (f"run {ep['run_id']} · {esc(ep['task'])} · {esc(ep['method'])} · "
            f"**{esc(ep['outcome'] or '')}** · {ep['tokens_in']}/{ep['tokens_out']} tokens · ${ep['cost']:.4f}")
    return meta, lane_html(stored_lane(ep, run_tools(studio, run_id)), stored_question(ep)), ep["text"]
