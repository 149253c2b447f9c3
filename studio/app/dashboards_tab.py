"""Dashboards tab: pick runs, see their figures; Share saves a snapshot and gives its `/dashboards/<id>` link
and the self-contained HTML file."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.app.views import dashboards as views
from studio.app.views import runs as run_views
from studio.app.views.markdown import esc
from studio.app.views.state import Studio

MAX_FIGURES = 8
SCORE_COLUMNS = ["run_id", "agent", "task", "method", "noise", "questions", "em", "em_lo", "em_hi", "f1", "f1_lo",
                 "f1_hi", "cost_per_1000", "latency_s"]


def create_dashboards_tab(studio: Studio) -> dict[str, Any]:
    """Build the Dashboards tab; returns its components."""
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        runs = gr.Dropdown(choices=[(label, str(i)) for label, i in run_views.run_choices(studio)], multiselect=True,
                           label="runs", scale=4, elem_id="dash-runs", allow_custom_value=True)
        title = gr.Textbox(label="title", placeholder="(default: the run ids)", scale=2, elem_id="dash-title")
        show = gr.Button("Show figures", scale=1, min_width=120, elem_id="dash-show")
        share = gr.Button("Share", variant="primary", scale=1, min_width=100, elem_id="dash-share")
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        link = gr.Markdown(elem_id="dash-link")
        download = gr.DownloadButton("Download HTML", visible=False, scale=0, elem_id="dash-download")
    scores = gr.Dataframe(headers=SCORE_COLUMNS, interactive=False, visible=False, label="scores",
                          elem_id="dash-scores")
    plots = []
    for start in range(0, MAX_FIGURES, 2):
        with gr.Row(equal_height=True):
            for i in range(start, start + 2):
                plots.append(gr.Plot(visible=False, show_label=False, elem_id=f"dash-figure-{i}"))
    gr.Markdown("### Saved dashboards")
    saved = gr.Dataframe(value=None, headers=["id", "title", "runs", "created"], interactive=False,
                         label="click a row to open its snapshot", elem_id="dash-saved", max_height=240)

    def _figures(spec: dict[str, Any]) -> list[Any]:
        import plotly.graph_objects as go

        out = []
        for i in range(MAX_FIGURES):
            if i < len(spec["figures"]):
                out.append(gr.update(value=go.Figure(spec["figures"][i]), visible=True))
            else:
                out.append(gr.update(value=None, visible=False))
        rows = [[r.get(c) for c in SCORE_COLUMNS] for r in spec["scores"]]
        return [gr.update(value=rows, visible=bool(rows)), *out]

    def _ids(picked: list[str] | None) -> list[int]:
        return [int(x) for x in picked or []]

    def preview(picked: list[str], title_: str) -> list[Any]:
        from studio.results.dashboards import build_dashboard

        if not picked:
            return ["⚠ pick one or more runs", *(gr.skip() for _ in range(MAX_FIGURES + 1))]
        try:
            spec = build_dashboard(studio.store, _ids(picked), title_ or None)
        except ValueError as exc:
            return [f"⚠ {esc(str(exc))}", *(gr.skip() for _ in range(MAX_FIGURES + 1))]
        note = (f"{len(spec['figures'])} figure(s) of {esc(spec['title'])}; **Share** saves a snapshot.\n\n"
                + "\n\n".join(esc(n) for n in [*spec["notes"], *views.studio_notes(spec)]))
        return [note, *_figures(spec)]

    def share_dashboard(picked: list[str], title_: str, request: gr.Request) -> list[Any]:
        from studio.results.dashboards import save_dashboard

        if not picked:
            return ["⚠ pick one or more runs", gr.skip(), gr.skip(), *(gr.skip() for _ in range(MAX_FIGURES + 1))]
        try:
            dashboard_id = save_dashboard(studio.store, _ids(picked), title_ or None)
        except ValueError as exc:
            return [f"⚠ {esc(str(exc))}", gr.skip(), gr.skip(), *(gr.skip() for _ in range(MAX_FIGURES + 1))]
        return _shared(dashboard_id, request, views.dashboards_rows(studio))

    def _shared(dashboard_id: str, request: gr.Request | None, saved_rows: Any) -> list[Any]:
        found = studio.store.get_dashboard(dashboard_id)
        if found is None:
            return [f"⚠ no dashboard {esc(dashboard_id)}", gr.skip(), gr.skip(),
                    *(gr.skip() for _ in range(MAX_FIGURES + 1))]
        path = f"/dashboards/{dashboard_id}"
        url = views.base_url(request) + path
        note = (f'Share link (read-only, no login needed): <a href="{path}" target="_blank" id="dash-share-link">'
                f"{html.escape(url)}</a> · snapshot `{dashboard_id}` · {esc(found['title'])}")
        return [note, gr.update(value=str(views.dashboard_file(studio, dashboard_id)), visible=True), saved_rows,
                *_figures(found["spec"])]

    def open_dashboard(evt: gr.SelectData, request: gr.Request) -> list[Any]:
        row = evt.row_value or []
        return _shared(str(row[0]), request, gr.skip()) if row else [gr.skip()] * (MAX_FIGURES + 4)

    shown = [scores, *plots]
    show.click(preview, inputs=[runs, title], outputs=[link, *shown], api_name="preview_dashboard")
    share.click(share_dashboard, inputs=[runs, title], outputs=[link, download, saved, *shown],
                api_name="share_dashboard")
    saved.select(open_dashboard, outputs=[link, download, saved, *shown], api_visibility="private")
    return {"runs": runs, "title": title, "show": show, "share": share, "link": link, "download": download,
            "scores": scores, "plots": plots, "saved": saved}
