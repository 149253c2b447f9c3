"""Trajectories tab: filter stored episodes by run, task, method, agent and correctness; read one step by step.

Model text (questions, thoughts, actions, observations, answers) only ever goes into text components
(Textbox, Dataframe cells of type str), which the browser shows as text, never as HTML."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.app import views
from studio.app.views import Studio

CORRECT = {"any": None, "correct": True, "wrong": False}


def _any(values: list[str]) -> list[tuple[str, str]]:
    return [("any", ""), *((v, v) for v in values)]


def run_filter_choices(studio: Studio) -> list[tuple[str, str]]:
    return [("any run", ""), *((label, str(run_id)) for label, run_id in views.run_choices(studio))]


def create_trajectories_tab(studio: Studio) -> dict[str, Any]:
    """Build the Trajectories tab; returns its components."""
    options = views.trajectory_options(studio)
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        dynamic = {"allow_custom_value": True, "value": ""}
        run = gr.Dropdown(choices=run_filter_choices(studio), label="run", scale=3, elem_id="traj-run", **dynamic)
        task = gr.Dropdown(choices=_any(options["task"]), label="task", scale=1, elem_id="traj-task", **dynamic)
        method = gr.Dropdown(choices=_any(options["method"]), label="method", scale=1, elem_id="traj-method",
                             **dynamic)
        agent = gr.Dropdown(choices=_any(options["agent"]), label="agent", scale=1, elem_id="traj-agent", **dynamic)
        correct = gr.Radio(list(CORRECT), value="any", label="correct", scale=2, min_width=240,
                           elem_id="traj-correct")
        search = gr.Button("Filter", variant="primary", scale=1, min_width=90, elem_id="traj-filter")
    count = gr.Markdown(elem_id="traj-count")
    table = gr.Dataframe(headers=views.TRAJECTORY_COLUMNS, datatype="str", interactive=False, wrap=True,
                         max_height=300, label="episodes (click a row to read it)", elem_id="traj-table")
    keys = gr.State([])
    episode = gr.State(None)
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        index = gr.Number(label="episode # in the list", precision=0, minimum=1, scale=1, min_width=140,
                          elem_id="traj-index")
        prev = gr.Button("◀ step", scale=0, min_width=90, elem_id="traj-prev")
        step = gr.Number(1, label="step", precision=0, minimum=1, scale=0, min_width=90, elem_id="traj-step")
        nxt = gr.Button("step ▶", scale=0, min_width=90, elem_id="traj-next")
        meta = gr.Markdown("Pick an episode: click a row of the table.", elem_id="traj-meta")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            question = gr.Textbox(label="question", lines=3, interactive=False, elem_id="traj-question")
            with gr.Row():
                prediction = gr.Textbox(label="prediction", interactive=False, elem_id="traj-prediction")
                gold = gr.Textbox(label="gold", interactive=False, elem_id="traj-gold")
        with gr.Column(scale=3):
            thought = gr.Textbox(label="thought", lines=3, interactive=False, elem_id="traj-thought")
            action = gr.Textbox(label="action", interactive=False, elem_id="traj-action")
            observation = gr.Textbox(label="observation", lines=4, interactive=False, elem_id="traj-observation")
    with gr.Accordion("whole trajectory text", open=False):
        full = gr.Textbox(lines=14, max_lines=30, interactive=False, show_label=False, elem_id="traj-text",
                          buttons=["copy"])

    def filter_trajectories(run_id: str, task_: str, method_: str, agent_: str, correct_: str) -> list[Any]:
        rows, total = views.find_trajectories(studio, run_id or None, task_, method_, agent_, CORRECT.get(correct_))
        shown = f"{total} episode(s)" + (f", showing the first {len(rows)}" if total > len(rows) else "")
        return [shown, views.trajectory_rows(rows), [(r["run_id"], r["key"]) for r in rows]]

    def show_episode(number: float | None, listed: list) -> list[Any]:
        if not listed or number is None or not 1 <= int(number) <= len(listed):
            return [None, "Pick an episode: click a row of the table.", "", "", "", 1, "", "", "", ""]
        run_id, key = listed[int(number) - 1]
        ep = views.episode(studio, run_id, key)
        if ep is None:
            return [None, "That episode is gone.", "", "", "", 1, "", "", "", ""]
        n = max(1, len(ep["steps"] or []))
        verdict = {True: "✓ correct", False: "✗ wrong"}.get(ep["correct"], "not scored")
        info = (f"**{n} step(s)** · run {ep['run_id']} · {views.esc(ep['task'])} · {views.esc(ep['method'])} · "
                f"{views.esc(ep['agent'])} · {verdict} · "
                f"{ep['tokens_in']}/{ep['tokens_out']} tokens · ${ep['cost']:.4f}"
                + (f" · ⚠ {views.esc(ep['error'])}" if ep["error"] else ""))
        t, a, o = views.step_text(ep, 1)
        return [ep, info, ep["question"], ep["prediction"] or "", ep["gold"] or "",
                gr.update(value=1, maximum=n), t, a, o, ep["text"]]

    def pick_row(listed: list, evt: gr.SelectData) -> int | None:
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        return None if row is None else int(row) + 1

    def show_step(ep: dict | None, number: float) -> list[str]:
        return list(views.step_text(ep, int(number or 1)))

    def move(ep: dict | None, number: float, delta: int) -> int:
        n = max(1, len((ep or {}).get("steps") or []))
        return max(1, min(n, int(number or 1) + delta))

    filters = [run, task, method, agent, correct]
    gr.on([search.click, run.input, task.input, method.input, agent.input, correct.input], filter_trajectories,
          inputs=filters, outputs=[count, table, keys], api_name="filter_trajectories")
    shown = [episode, meta, question, prediction, gold, step, thought, action, observation, full]
    table.select(pick_row, inputs=keys, outputs=index, api_visibility="private").then(
        show_episode, inputs=[index, keys], outputs=shown, api_visibility="private")
    index.submit(show_episode, inputs=[index, keys], outputs=shown, api_name="show_episode")
    step.change(show_step, inputs=[episode, step], outputs=[thought, action, observation], api_name="show_step",
                show_progress="hidden")
    prev.click(lambda ep, n: move(ep, n, -1), inputs=[episode, step], outputs=step, api_visibility="private")
    nxt.click(lambda ep, n: move(ep, n, +1), inputs=[episode, step], outputs=step, api_visibility="private")
    return {"run": run, "task": task, "method": method, "agent": agent, "correct": correct, "search": search,
            "count": count, "table": table, "keys": keys, "index": index, "question": question, "step": step,
            "thought": thought, "action": action, "observation": observation, "full": full,
            "filter": filter_trajectories, "filters": filters}
