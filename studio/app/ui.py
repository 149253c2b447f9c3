"""The studio's Gradio Blocks: five tabs, each built by its own `create_*_tab()`, and the page-load event that
refreshes the lists and follows deep links (`/?run=ID` opens that run)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.app import views
from studio.app.dashboards_tab import create_dashboards_tab
from studio.app.playground_tab import create_playground_tab
from studio.app.recipes_tab import create_recipes_tab
from studio.app.runs_tab import create_runs_tab
from studio.app.trajectories_tab import _any, create_trajectories_tab, run_filter_choices
from studio.app.views import Studio

CSS = """
.gradio-container {max-width: 1440px !important; overflow: clip !important}
.toolbar {align-items: flex-end !important}
#recipe-yaml-column {position: sticky; top: 0.5rem; align-self: flex-start}
.toolbar > button, .toolbar > .form + button {align-self: flex-end; margin-bottom: 0.35rem}
#studio-header h1 {margin-bottom: 0}
#studio-header p {margin-top: 0.2rem; color: var(--body-text-color-subdued)}
.field-error input, .field-error textarea, .field-error .wrap, .field-error select {
  border-color: #dc2626 !important; box-shadow: 0 0 0 1px #dc2626 !important}
.field-error [data-testid="block-info"], .field-error .info-text, .field-error-text {color: #dc2626 !important}
.field-error-text {font-weight: 600}
.recipe-problems {border: 1px solid #dc2626; border-radius: 6px; padding: 0.4rem 0.8rem; color: #991b1b;
  background: #fef2f2}
.recipe-problems ul {margin: 0.2rem 0 0 1rem}
.recipe-ok {color: #15803d; font-weight: 600}
.recipe-stale {border: 1px solid #d97706; border-radius: 6px; padding: 0.4rem 0.8rem; color: #92400e;
  background: #fffbeb}
.section-unused > button, .section-unused .label-wrap, .field-unused {opacity: 0.55}
.field-unused [data-testid="block-info"], .unused-note {font-style: italic}
.table-help {font-size: 0.85rem; padding: 0 0.5rem 0.4rem}
.hint {font-size: 0.85rem; color: var(--body-text-color-subdued)}
.lane {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.5rem 0.7rem}
.lane-head {margin-bottom: 0.4rem}
.step-card {border-left: 3px solid #f97316; padding: 0.2rem 0.6rem; margin: 0.4rem 0; font-size: 0.9rem}
.step-card .obs {color: var(--body-text-color-subdued)}
.lane-answer {font-weight: 600; margin-top: 0.4rem}
.lane-error {color: #b91c1c; margin-top: 0.4rem}
.round-timeline {display: flex; gap: 0.6rem; overflow-x: auto; padding-bottom: 0.3rem}
.round-card {border: 1px solid var(--border-color-primary); border-top: 3px solid #f97316; border-radius: 8px;
  padding: 0.4rem 0.7rem; min-width: 16rem; font-size: 0.88rem}
.round-head {font-weight: 600; margin-bottom: 0.3rem}
#run-log textarea, #traj-text textarea, #traj-thought textarea, #traj-observation textarea {
  font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.8rem}
"""


def theme() -> gr.themes.Base:
    """The default theme with local fonts: the studio works offline, so no web fonts are fetched."""
    return gr.themes.Soft(primary_hue="orange", secondary_hue="slate",
                          font=["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def create_ui(studio: Studio) -> gr.Blocks:
    with gr.Blocks(title="FireAct Studio", analytics_enabled=False) as demo:
        gr.Markdown("# FireAct Studio\nBuild a recipe, generate teacher trajectories, fine-tune a small "
                    "agent, evaluate it against prompted baselines, and share the dashboards.",
                    elem_id="studio-header")
        with gr.Tabs(selected="recipes", elem_id="studio-tabs") as tabs:
            with gr.Tab("Recipes", id="recipes", elem_id="tab-recipes"):
                recipes = create_recipes_tab(studio)
            with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
                runs = create_runs_tab(studio)
            with gr.Tab("Trajectories", id="trajectories", elem_id="tab-trajectories"):
                trajectories = create_trajectories_tab(studio)
            with gr.Tab("Dashboards", id="dashboards", elem_id="tab-dashboards"):
                dashboards = create_dashboards_tab(studio)
            with gr.Tab("Playground", id="playground", elem_id="tab-playground"):
                playground = create_playground_tab(studio)

        recipes["saved"].then(lambda: [gr.update(choices=views.recipe_names(studio))] * 2,
                              outputs=[runs["recipe"], playground["recipe"]], api_visibility="private")

        def on_load(request: gr.Request) -> list[Any]:
            """Fresh lists for this page; `?run=ID` opens that run in the Runs tab and filters its episodes."""
            run_id = _query_run(request)
            names = views.recipe_names(studio)
            options = views.trajectory_options(studio)
            job = (studio.jobs.job_for_run(run_id) if run_id is not None else None) or studio.jobs.current()
            run_info, run_loss = runs["open_run"](run_id) if run_id is not None else (gr.skip(), gr.skip())
            if run_id is not None and views.run_detail(studio, run_id) is None:
                run_info = f"⚠ no run {run_id} in this studio's store"
            listed = trajectories["filter"](str(run_id), "", "", "", "any", "", 1) if run_id is not None else \
                [gr.skip()] * 3
            run_choices = views.run_choices(studio)
            sides = gr.update(choices=views.side_choices(studio))
            return [
                gr.update(selected="runs") if run_id is not None else gr.skip(),
                gr.update(choices=names),
                gr.update(choices=names),
                gr.update(choices=views.job_choices(studio), value=job),
                views.job_rows(studio),
                views.runs_rows(studio),
                gr.update(choices=run_choices, value=run_id) if run_id is not None else gr.update(choices=run_choices),
                run_info,
                run_loss,
                gr.update(choices=run_filter_choices(studio), value=str(run_id) if run_id is not None else ""),
                gr.update(choices=_any(options["task"])),
                gr.update(choices=_any(options["method"])),
                gr.update(choices=_any(options["agent"])),
                *listed,
                gr.update(choices=[(label, str(i)) for label, i in run_choices]),
                views.dashboards_rows(studio),
                gr.update(choices=names),
                sides,
                sides,
            ]

        demo.load(on_load, outputs=[
            tabs, recipes["recipe_list"], runs["recipe"], runs["job"], runs["jobs"], runs["runs"], runs["run"],
            runs["run_info"], runs["run_loss"], trajectories["run"], trajectories["task"], trajectories["method"],
            trajectories["agent"], trajectories["count"], trajectories["table"], trajectories["keys"],
            dashboards["runs"], dashboards["saved"], playground["recipe"], trajectories["side_a"],
            trajectories["side_b"],
        ], api_name="open_page")
    return demo


def _query_run(request: gr.Request | None) -> int | None:
    if request is None:
        return None
    value = request.query_params.get("run")
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
