"""The Runs tab's rounds panel: a recipe's self-improvement rounds as one timeline (one card per round: what
the student explored and kept, what it trained on, how it scored), with EM per round as a chart. Text from the
store is HTML-escaped."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.app.views import recipes as views
from studio.app.views.state import Studio
from studio.errors import StudioError
from studio.recipe.io import RecipeError

STATUS_MARK = {"done": "✓", "failed": "⚠", "running": "…", "pending": "…", "cancelled": "■", "interrupted": "■",
               "capped": "■"}


def _stage(run: dict[str, Any] | None, what: str) -> str:
    if run is None:
        return "<span class='hint'>not run yet</span>"
    status = run["status"]
    return f"{STATUS_MARK.get(status, '')} {html.escape(status)} (run {run['id']}){' · ' + what if what else ''}"


def round_card(row: dict[str, Any]) -> str:
    """One round as a card: explore, train and evaluate with their numbers."""
    from studio.results.rounds_table import change_text, training_text

    lines = []
    if row["round"]:
        right = f"{row['right']} of {row['attempts']} attempts right, {row['kept']} kept" if row["explore"] else ""
        lines.append(f"<div><b>explore</b> {_stage(row['explore'], right)}</div>")
    lines.append(f"<div><b>train</b> {_stage(row['train'], html.escape(training_text(row) or ''))}</div>")
    scores = "; ".join(f"{html.escape(s['task'])}/{html.escape(s['method'])} EM <b>{s['em']:.1f}</b> "
                       f"[{s['em_lo']:.1f}, {s['em_hi']:.1f}]" for s in row["scores"])
    lines.append(f"<div><b>evaluate</b> {_stage(row['evaluate'], scores)}</div>")
    if row["vs_round0"]:
        lines.append(f"<div><b>against round 0</b> {html.escape(change_text(row))}</div>")
    title = "round 0 · the recipe's own fine-tune" if not row["round"] else f"round {row['round']}"
    return f"<div class='round-card' id='round-{row['round']}'><div class='round-head'>{title}</div>" \
           f"{''.join(lines)}</div>"


def rounds_view(studio: Studio, name: str | None) -> tuple[str, Any]:
    """The timeline's HTML and the EM-per-round figure (None when there is nothing to chart) of a saved recipe."""
    from studio.results.figures import rounds_em_figure
    from studio.results.rounds_table import round_table

    if not name:
        return "<p class='hint'>Pick a recipe to see its rounds.</p>", None
    try:
        recipe = views.load_saved(studio, name)
    except KeyError:
        return (f"<p class='lane-error'>⚠ no recipe named {html.escape(name)}: save it in the Recipes tab "
                "first</p>"), None
    except RecipeError as exc:
        text = "; ".join(exc.problems)
        return f"<p class='lane-error'>⚠ recipe {html.escape(name)} is not valid: {html.escape(text)}</p>", None
    if not recipe.rounds.count:
        return (f"<p class='hint'>Recipe {html.escape(name)} has no self-improvement rounds: set "
                "<code>rounds.count</code> in its recipe, then start its <code>rounds</code> stage.</p>"), None
    try:
        table = round_table(studio.store, recipe)
    except StudioError as exc:
        return f"<p class='lane-error'>⚠ {html.escape(str(exc))}</p>", None
    cards = "".join(round_card(row) for row in table)
    figure = rounds_em_figure(table, recipe.name) if any(row["scores"] for row in table) else None
    return f"<div class='round-timeline'>{cards}</div>", figure


def create_rounds_panel(studio: Studio) -> dict[str, Any]:
    """The panel's components (filled by `show_rounds`)."""
    with gr.Accordion("Self-improvement rounds", open=False, elem_id="rounds-panel"):
        timeline = gr.HTML(elem_id="rounds-timeline")
        figure = gr.Plot(label="fine-tuned EM per round", visible=False, elem_id="rounds-em")
    return {"timeline": timeline, "figure": figure}


def show_rounds(studio: Studio, name: str | None) -> list[Any]:
    """Outputs for the panel's timeline and figure."""
    text, figure = rounds_view(studio, name)
    return [text, gr.update(value=figure, visible=figure is not None)]
