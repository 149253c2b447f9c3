"""Trajectories tab: filter stored episodes (run, task, method, agent, correctness, outcome), page through them,
read one as a timeline of cards, and compare two agents or runs question by question: who got which questions
right, an exact McNemar p-value, and both episodes of a question side by side.

Model text goes into Dataframe cells of type str (shown as text) or through `studio.app.cards`, which escapes
it, so nothing a model writes becomes markup."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.app.views import trajectories as views
from studio.app.views.markdown import esc
from studio.app.views.state import Studio
from studio.outcomes import OUTCOMES

CORRECT = {"any": None, "correct": True, "wrong": False}
ONLY = {"every paired question": None, "only A right": "a", "only B right": "b"}
# Column widths (share of the table's width) so the table fits the page and its headers stay on one line.
WIDTHS = {"run": 5, "task": 8, "method": 6.5, "agent": 8.5, "correct": 8, "outcome": 9.5, "steps": 5.5,
          "question": 23, "prediction": 13, "gold": 13}
# The compare table's: without them a long question took the table's whole width and hid the gold and both
# answers behind the table's own horizontal scrollbar.
COMPARE_WIDTHS = {"task": 8, "method": 7, "question": 27, "gold": 15, "A answer": 15, "A right": 6.5,
                  "B answer": 15, "B right": 6.5}


def _picked(listed: list, evt: gr.SelectData) -> Any:
    """The item of `listed` behind the table row a click selected, or None."""
    row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
    return listed[int(row)] if row is not None and listed and 0 <= int(row) < len(listed) else None


def column_widths(headers: list[str], widths: dict[str, float] = WIDTHS) -> list[str]:
    """Widths of a table's columns that fit the page, whichever of its columns it shows."""
    total = sum(widths[c] for c in headers)
    return [f"{100 * widths[c] / total:.1f}%" for c in headers]


def create_trajectories_tab(studio: Studio) -> dict[str, Any]:
    """Build the Trajectories tab; returns its components."""
    options = views.trajectory_options(studio)
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        dynamic = {"allow_custom_value": True, "value": ""}
        run = gr.Dropdown(choices=views.run_filter_choices(studio), label="run", scale=3, elem_id="traj-run", **dynamic)
        task = gr.Dropdown(choices=views.any_choices(options["task"]), label="task", scale=1, elem_id="traj-task",
                           **dynamic)
        method = gr.Dropdown(choices=views.any_choices(options["method"]), label="method", scale=1,
                             elem_id="traj-method", **dynamic)
        agent = gr.Dropdown(choices=views.any_choices(options["agent"]), label="agent", scale=1, elem_id="traj-agent",
                            **dynamic)
        outcome = gr.Dropdown(choices=views.any_choices(list(OUTCOMES)), label="outcome", scale=2,
                              elem_id="traj-outcome", **dynamic)
        correct = gr.Radio(list(CORRECT), value="any", label="correct", scale=2, min_width=240,
                           elem_id="traj-correct")
        search = gr.Button("Filter", variant="primary", scale=1, min_width=90, elem_id="traj-filter")
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        count = gr.Markdown(elem_id="traj-count")
        more = gr.Checkbox(False, label="more columns", info=", ".join(views.MORE_COLUMNS), scale=0, min_width=160,
                           elem_id="traj-more")
        page = gr.Number(1, label="page", precision=0, minimum=1, scale=0, min_width=100, elem_id="traj-page")
    shown_page = gr.State(1)
    table = gr.Dataframe(headers=views.TRAJECTORY_COLUMNS, column_widths=column_widths(views.TRAJECTORY_COLUMNS),
                         datatype="str", interactive=False, wrap=True, max_height=300,
                         label="episodes (click a row to read it)", elem_id="traj-table")
    keys = gr.State([])
    meta = gr.Markdown("Pick an episode: click a row of the table.", elem_id="traj-meta")
    timeline = gr.HTML(elem_id="traj-timeline")
    with gr.Accordion("whole trajectory text", open=False):
        full = gr.Textbox(lines=14, max_lines=30, interactive=False, show_label=False, elem_id="traj-text",
                          buttons=["copy"])

    gr.Markdown("### Compare two agents or runs")
    side_choices = views.side_choices(studio)
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        side_a = gr.Dropdown(side_choices, value=None, label="A", scale=2, elem_id="cmp-a", allow_custom_value=True)
        side_b = gr.Dropdown(side_choices, value=None, label="B", scale=2, elem_id="cmp-b", allow_custom_value=True)
        only = gr.Radio(list(ONLY), value="every paired question", label="show", scale=3, elem_id="cmp-only")
        compare = gr.Button("Compare", variant="primary", scale=1, min_width=100, elem_id="cmp-go")
    verdict = gr.Markdown(elem_id="cmp-summary")
    pairs = gr.Dataframe(headers=views.COMPARE_COLUMNS,
                         column_widths=column_widths(views.COMPARE_COLUMNS, COMPARE_WIDTHS), datatype="str",
                         interactive=False, wrap=True, max_height=300,
                         label="paired questions (click a row to see both episodes)", elem_id="cmp-table")
    pair_keys = gr.State([])
    with gr.Row(equal_height=False):
        lane_a = gr.HTML(elem_id="cmp-lane-a")
        lane_b = gr.HTML(elem_id="cmp-lane-b")

    def filter_page(run_id: str, task_: str, method_: str, agent_: str, correct_: str, outcome_: str,
                    page_: float | None, more_: bool = False, widths: bool = False) -> list[Any]:
        """The count line, the table (with `widths`, the column widths that fit its columns), the rows' keys and
        the page shown (the asked one clamped to the pages)."""
        try:
            found = views.find_trajectories(studio, run_id or None, task_, method_, agent_, CORRECT.get(correct_),
                                            outcome_, int(page_ or 1))
        except ValueError:  # a typed run, not one of the list's
            return [f"⚠ there is no run {esc(run_id)}: pick one from the list", gr.skip(), gr.skip(),
                    gr.skip()]
        table_ = views.trajectory_rows(found.rows, more_)
        if widths:
            table_ = gr.update(value=table_, column_widths=column_widths(table_["headers"]))
        return [found.summary(), table_, [(r["run_id"], r["key"]) for r in found.rows], found.page]

    def toggle_columns(*filters_: Any) -> list[Any]:
        return filter_page(*filters_, widths=True)

    def filter_trajectories(*filters_: Any) -> list[Any]:
        """The count line, the table and the rows' keys (the page load's list)."""
        return filter_page(*filters_)[:3]

    def show_episode(listed: list, evt: gr.SelectData) -> list[str]:
        picked = _picked(listed, evt)
        if picked is None:
            return ["Pick an episode: click a row of the table.", "", ""]
        return list(views.episode_view(studio, *picked))

    def open_episode(run_id: int, key: str) -> list[str]:
        return list(views.episode_view(studio, int(run_id), key))

    def compare_sides(a: str | None, b: str | None, only_: str) -> list[Any]:
        if not a or not b:
            return ["⚠ pick two sides, A and B", gr.skip(), gr.skip()]
        try:
            found = views.compare_sides(studio, a, b, ONLY.get(only_))
        except ValueError:  # a typed value, not one of the list's
            return ["⚠ pick A and B from their lists", gr.skip(), gr.skip()]
        return [views.comparison_markdown(found), views.comparison_rows(found),
                [(r["a_key"], r["b_key"]) for r in found.shown]]

    def show_pair(a: str, b: str, listed: list, evt: gr.SelectData) -> list[str]:
        picked = _picked(listed, evt)
        if picked is None or not a or not b:
            return ["", ""]
        return views.pair_lanes(studio, a, b, *picked)

    filters = [run, task, method, agent, correct, outcome, page]
    listed = [count, table, keys, shown_page]
    gr.on([search.click, run.input, task.input, method.input, agent.input, correct.input, outcome.input,
           page.submit], filter_page, inputs=[*filters, more], outputs=listed, api_name="filter_trajectories",
          ).then(lambda shown: shown, inputs=shown_page, outputs=page, api_visibility="private")
    more.input(toggle_columns, inputs=[*filters, more], outputs=listed, api_visibility="private",
               ).then(lambda shown: shown, inputs=shown_page, outputs=page, api_visibility="private")
    table.select(show_episode, inputs=keys, outputs=[meta, timeline, full], api_visibility="private")
    gr.api(open_episode, api_name="open_episode")
    compare.click(compare_sides, inputs=[side_a, side_b, only], outputs=[verdict, pairs, pair_keys],
                  api_name="compare")
    pairs.select(show_pair, inputs=[side_a, side_b, pair_keys], outputs=[lane_a, lane_b], api_visibility="private")
    return {"run": run, "task": task, "method": method, "agent": agent, "correct": correct, "outcome": outcome,
            "page": page, "more": more, "search": search, "count": count, "table": table, "keys": keys, "meta": meta,
            "timeline": timeline, "full": full, "filter": filter_trajectories, "filters": filters,
            "side_a": side_a, "side_b": side_b, "compare": compare, "pairs": pairs, "verdict": verdict,
            "pair_keys": pair_keys, "compare_sides": compare_sides}
