"""Plotly dashboards built from DuckDB queries, saved as snapshots that can be shared.

A snapshot holds the figures as plotly JSON plus the scores table and a few sample episodes, so it
renders the same later even if runs are deleted. `render_html` turns one into a single self-contained
page (plotly.js inlined, opens offline); every piece of text, model output above all, is escaped.
"""

from __future__ import annotations

import html
import json
import secrets
from pathlib import Path
from typing import Any

from storage import Store
from studio.errors import StudioError
from studio.files import check_output_file, write_text
from studio.results.episode_cards import CARDS_CSS, format_marker, raw_chat, step_cards
from studio.results.insight import outcome_counts, seed_spread
from studio.results.scores import scores
from studio.trajectories.episode import OUTCOMES, Step
from studio.trajectories.schemas import string_params

LOW_EM, EDGE_EM = 15, 85  # a label under a point below 15% EM, or over one above 85%, would leave the plot
SAMPLES_PER_KIND = 2  # sample episodes of each agent that were right, and as many wrong (and unscored)
# Figures carry this small template rather than plotly's default (7 kB in every figure's JSON).
TEMPLATE = {"layout": {"font": {"family": "system-ui, sans-serif", "size": 12}, "plot_bgcolor": "#f8fafc",
                       "xaxis": {"gridcolor": "#e2e8f0", "zerolinecolor": "#94a3b8"},
                       "yaxis": {"gridcolor": "#e2e8f0", "zerolinecolor": "#94a3b8"}}}


class DashboardError(StudioError, ValueError):
    """A dashboard of nothing: none of the runs asked for exists."""


# One colour per agent in every figure, so "fine-tuned" is the same orange wherever it appears.
AGENT_COLOURS = {"finetuned": "#f97316", "prompted": "#3b82f6", "teacher": "#10b981"}
OUTCOME_COLOURS = dict(zip(OUTCOMES, ("#7f1d1d", "#b91c1c", "#16a34a", "#9ca3af", "#a855f7", "#c026d3", "#f59e0b",
                                      "#eab308", "#60a5fa", "#1e3a8a"), strict=True))


def _colour(agent: str) -> str | None:
    return AGENT_COLOURS.get(agent)


def _error_bars(picked: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """A plotly error_y of the rows' 95% intervals (asymmetric), or None where they are missing."""
    if any(r.get(f"{metric}_lo") is None for r in picked):
        return None
    return {"type": "data", "symmetric": False, "array": [r[f"{metric}_hi"] - r[metric] for r in picked],
            "arrayminus": [r[metric] - r[f"{metric}_lo"] for r in picked]}


def _figure_scores(rows: list[dict[str, Any]]):
    import plotly.graph_objects as go

    fig = go.Figure()
    labels = [f"{r['task']} / {r['method']}" + (f" / noise {r['noise']:g}" if r["noise"] else "") for r in rows]
    for agent in dict.fromkeys(r["agent"] for r in rows):
        picked = [(label, r) for label, r in zip(labels, rows, strict=True) if r["agent"] == agent]
        x, chosen = [p[0] for p in picked], [p[1] for p in picked]
        fig.add_bar(name=f"{agent} EM", x=x, y=[r["em"] for r in chosen], marker_color=_colour(agent),
                    error_y=_error_bars(chosen, "em"))
        fig.add_bar(name=f"{agent} F1", x=x, y=[r["f1"] for r in chosen], opacity=0.5, marker_color=_colour(agent),
                    error_y=_error_bars(chosen, "f1"))
    fig.update_layout(title="EM and F1 by agent, task and method (bars: 95% interval)", barmode="group",
                      yaxis_title="score (%)", yaxis_range=[0, 100])
    return fig


def _figure_outcomes(store: Store, run_ids: list[int]):
    """What became of the episodes of each agent, task and method, as shares (the failure taxonomy)."""
    import plotly.graph_objects as go

    counts = outcome_counts(store, run_ids)
    groups = list(dict.fromkeys((r["agent"], r["task"], r["method"]) for r in counts))
    totals = {g: sum(r["n"] for r in counts if (r["agent"], r["task"], r["method"]) == g) for g in groups}
    fig = go.Figure()
    for name in OUTCOMES:
        found = {(r["agent"], r["task"], r["method"]): r["n"] for r in counts if r["outcome"] == name}
        if found:
            fig.add_bar(name=name, x=[" / ".join(g) for g in groups],
                        y=[100 * found.get(g, 0) / totals[g] for g in groups], marker_color=OUTCOME_COLOURS[name],
                        customdata=[found.get(g, 0) for g in groups],
                        hovertemplate="%{x}<br>" + name + ": %{customdata} episodes (%{y:.0f}%)<extra></extra>")
    fig.update_layout(title="What became of the episodes", barmode="stack", yaxis_title="episodes (%)",
                      yaxis_range=[0, 100])
    return fig


def _label_position(x: float, em: float, right: float) -> str:
    """Where a point's label goes so it stays inside the plot and apart from its neighbours': away from the
    middle (two agents at 43 and 57 label apart), but inwards near the top and bottom edges; to the right of
    a point in the left half, to the left of one in the right half."""
    vertical = "bottom" if em > EDGE_EM or LOW_EM <= em < 50 else "top"
    return vertical + (" right" if x < right / 2 else " left")


def _figure_tradeoff(rows: list[dict[str, Any]], x: str, title: str, x_title: str):
    """EM against a cost or time per question (no noise), its axis from 0 so that 1.54 against 1.59 s looks as
    small as it is; None when no point has any (nothing billed, no time measured): a chart of zeros says nothing."""
    import plotly.graph_objects as go

    points = [r for r in rows if r["noise"] == 0 and r[x] is not None and r["em"] is not None]  # scored ones
    if not any(r[x] > 0 for r in points):
        return None
    right = 1.15 * max(r[x] for r in points)  # room beside the rightmost point
    fig = go.Figure()
    for agent in dict.fromkeys(r["agent"] for r in points):
        picked = [r for r in points if r["agent"] == agent]
        fig.add_scatter(name=agent, mode="markers+text", x=[r[x] for r in picked], y=[r["em"] for r in picked],
                        text=[f"{r['task']}/{r['method']}" for r in picked], cliponaxis=False,
                        textposition=[_label_position(r[x], r["em"], right) for r in picked],
                        marker={"size": 12, "color": _colour(agent)}, error_y=_error_bars(picked, "em"))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="EM (%)", xaxis_range=[0, right],
                      yaxis_range=[0, 100])
    return fig


# A trade-off figure, and the line that stands in for it when no point has any of its measure.
TRADEOFFS = (
    ("cost_per_1000", "EM against cost", "USD per 1000 questions",
     "No run billed anything: every agent ran locally at no price per hour, $0, so there is no figure of EM "
     "against cost."),
    ("compute_s", "EM against time", "machine seconds per question",
     "No run recorded machine time, so there is no figure of EM against time."),
)


def _tradeoffs(rows: list[dict[str, Any]]) -> tuple[list[Any], list[str]]:
    """The EM-against-cost and EM-against-time figures, and a line for each left out."""
    figures, missing = [], []
    for x, title, x_title, absent in TRADEOFFS:
        fig = _figure_tradeoff(rows, x, title, x_title)
        if fig is None:
            missing.append(absent)
        else:
            figures.append(fig)
    return figures, missing


def _figure_loss(store: Store, train_runs: list[int]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for run_id in train_runs:
        metrics = store.train_metrics(run_id)
        fig.add_scatter(name=f"run {run_id}", mode="lines", x=[m["step"] for m in metrics],
                        y=[m["loss"] for m in metrics])
    fig.update_layout(title="Training loss", xaxis_title="step", yaxis_title="loss")
    return fig


def _figure_steps(store: Store, run_ids: list[int]):
    import plotly.graph_objects as go

    rows = store.query(
        f"SELECT agent, n_steps, count(*) AS n FROM trajectories WHERE run_id IN ({', '.join('?' * len(run_ids))}) "
        "AND error IS NULL GROUP BY ALL ORDER BY agent, n_steps", run_ids)
    fig = go.Figure()
    for agent in dict.fromkeys(r["agent"] for r in rows):
        picked = [r for r in rows if r["agent"] == agent]
        fig.add_bar(name=agent, x=[r["n_steps"] for r in picked], y=[r["n"] for r in picked],
                    marker_color=_colour(agent))
    fig.update_layout(title="Steps per episode", barmode="group", xaxis_title="steps", yaxis_title="episodes")
    return fig


def _figure_noise(rows: list[dict[str, Any]]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for key in dict.fromkeys((r["agent"], r["task"], r["method"]) for r in rows):
        picked = sorted((r for r in rows if (r["agent"], r["task"], r["method"]) == key), key=lambda r: r["noise"])
        fig.add_scatter(name="/".join(key), mode="lines+markers", x=[r["noise"] for r in picked],
                        y=[r["em"] for r in picked])
    fig.update_layout(title="Robustness to noisy search", xaxis_title="noise probability", yaxis_title="EM (%)")
    return fig


def _figure_scaling(points: list[dict[str, Any]]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for key in dict.fromkeys((p["task"], p["method"]) for p in points):
        picked = sorted((p for p in points if (p["task"], p["method"]) == key), key=lambda p: p["examples"])
        fig.add_scatter(name="/".join(key), mode="lines+markers", x=[p["examples"] for p in picked],
                        y=[p["em"] for p in picked], text=[p["recipe"] for p in picked])
    fig.update_layout(title="Fine-tuned EM against training trajectories", xaxis_title="training trajectories",
                      yaxis_title="EM (%)")
    return fig


def _scaling_points(store: Store, eval_runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict]:
    """(training examples, fine-tuned EM) for each evaluate run whose recipe has a finished train run."""
    points = []
    for run in eval_runs:
        train = store.query("SELECT summary FROM runs WHERE recipe_name = ? AND stage = 'train' AND status = 'done' "
                            "ORDER BY id DESC LIMIT 1", [run["recipe_name"]])
        examples = (train[0]["summary"] or {}).get("examples") if train else None
        if examples is None:
            continue
        for r in rows:
            if r["run_id"] == run["id"] and r["agent"] == "finetuned" and r["noise"] == 0:
                points.append({"examples": examples, "em": r["em"], "task": r["task"], "method": r["method"],
                               "recipe": run["recipe_name"]})
    return points


def rounds_em_figure(table: list[dict[str, Any]], recipe_name: str):
    """The fine-tuned agent's EM after each self-improvement round, with its 95% interval."""
    import plotly.graph_objects as go

    fig = go.Figure()
    keys = dict.fromkeys((s["task"], s["method"]) for row in table for s in row["scores"])
    for key in keys:
        picked = [(row["round"], s) for row in table for s in row["scores"] if (s["task"], s["method"]) == key]
        fig.add_scatter(name="/".join(key), mode="lines+markers", x=[p[0] for p in picked],
                        y=[p[1]["em"] for p in picked], error_y=_error_bars([p[1] for p in picked], "em"),
                        marker_color=_colour("finetuned") if len(keys) == 1 else None)
    fig.update_layout(title=f"{recipe_name}: fine-tuned EM per round (bars: 95% interval)", xaxis_title="round",
                      yaxis_title="EM (%)", xaxis_dtick=1)
    return fig


def _figure_rounds_data(table: list[dict[str, Any]], recipe_name: str):
    """Each round's training set: teacher and student examples, and the student's share."""
    import plotly.graph_objects as go

    from studio.results.rounds_table import student_share

    trained = [row for row in table if row["teacher_examples"] is not None]
    x = [row["round"] for row in trained]
    fig = go.Figure()
    fig.add_bar(name="teacher examples", x=x, y=[row["teacher_examples"] for row in trained],
                marker_color=AGENT_COLOURS["teacher"])
    fig.add_bar(name="student examples", x=x, y=[row["student_examples"] for row in trained],
                marker_color=AGENT_COLOURS["finetuned"],
                text=[f"{student_share(row):.0f}% student" for row in trained], textposition="outside",
                cliponaxis=False)
    fig.update_layout(title=f"{recipe_name}: training set per round", barmode="stack", xaxis_title="round",
                      yaxis_title="examples", xaxis_dtick=1)
    return fig


def _rounds_recipes(runs: list[dict[str, Any]]) -> list[Any]:
    """The recipes (as their runs stored them) of the runs that belong to a self-improvement round."""
    from pydantic import ValidationError

    from studio.recipe.schema import Recipe

    found = {}
    for run in runs:
        if run["round"] and run["recipe"] and run["recipe_name"] not in found:
            try:
                found[run["recipe_name"]] = Recipe.model_validate(run["recipe"])
            except ValidationError:  # stored by another version, or its files are gone: no rounds charts
                continue
    return list(found.values())


def rounds_section(store: Store, runs: list[dict[str, Any]]) -> tuple[list[Any], list[dict[str, Any]]]:
    """Figures and table rows of the self-improvement rounds among `runs`."""
    from studio.results.rounds_table import change_text, round_table, student_share

    figures, rows = [], []
    for recipe in _rounds_recipes(runs):
        table = round_table(store, recipe)
        figures += [rounds_em_figure(table, recipe.name), _figure_rounds_data(table, recipe.name)]
        for row in table:
            share = student_share(row)
            for s in row["scores"] or [{}]:
                rows.append({"recipe": recipe.name, "round": row["round"], "task": s.get("task"),
                             "method": s.get("method"), "em": s.get("em"), "em_lo": s.get("em_lo"),
                             "em_hi": s.get("em_hi"), "kept": row["kept"] if row["round"] else None,
                             "teacher_examples": row["teacher_examples"], "student_examples": row["student_examples"],
                             "student_share": None if share is None else round(share, 1),
                             "against_round0": change_text(row)})
    return figures, rows


def build_dashboard(store: Store, run_ids: list[int], title: str | None = None) -> dict[str, Any]:
    """Figures, scores and sample episodes of the given runs (evaluate and train runs both count)."""
    runs = [r for r in (store.get_run(i) for i in run_ids) if r is not None]
    if not runs:
        raise DashboardError("no such runs: " + ", ".join(map(str, run_ids)))
    # Later rounds' agents are charted per round (below), not beside round 0's agents under the same name.
    episode_runs = [r["id"] for r in runs if r["stage"] in ("evaluate", "generate", "import") and not r["round"]]
    rows = scores(store, episode_runs)
    train_runs = [r["id"] for r in runs if r["stage"] == "train"]
    train_runs += [t["id"] for r in runs if r["stage"] == "evaluate" and not r["round"] for t in store.query(
        "SELECT id FROM runs WHERE recipe_name = ? AND stage = 'train' AND status = 'done' AND round = 0 "
        "ORDER BY id DESC LIMIT 1", [r["recipe_name"]]) if t["id"] not in train_runs]
    figures, missing = [], []
    if rows:
        tradeoffs, missing = _tradeoffs(rows)
        figures += [_figure_scores(rows), *tradeoffs, _figure_steps(store, episode_runs),
                    _figure_outcomes(store, episode_runs)]
        if len({r["noise"] for r in rows}) > 1:
            figures.append(_figure_noise(rows))
    if train_runs:
        figures.append(_figure_loss(store, train_runs))
    points = _scaling_points(store, [r for r in runs if r["stage"] == "evaluate"], rows)
    if len({p["examples"] for p in points}) > 1:
        figures.append(_figure_scaling(points))
    round_figures, round_rows = rounds_section(store, runs)
    figures += round_figures
    for fig in figures:  # labels never clipped: the margins grow to fit them
        fig.update_xaxes(automargin=True)
        fig.update_yaxes(automargin=True, rangemode="tozero")
        fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.25}, margin={"t": 60})
        fig.layout.template = TEMPLATE  # assigned, not updated: an update merges it into plotly's default
    spread = seed_spread(store, [r["id"] for r in runs if r["stage"] == "evaluate"])
    return {
        "title": title or "Runs " + ", ".join(str(r["id"]) for r in runs),
        "runs": [{"id": r["id"], "name": r["name"], "stage": r["stage"], "status": r["status"]} for r in runs],
        "scores": rows,
        "rounds": round_rows,
        "seed_spread": spread,
        "notes": missing + _notes(rows, spread),
        "figures": [json.loads(f.to_json()) for f in figures],
        "samples": _samples(store, episode_runs),
    }


def _samples(store: Store, run_ids: list[int]) -> list[dict[str, Any]]:
    """A few episodes of each agent, right and wrong ones (and unscored ones) alike where it has them; a
    `tools`-format one with its steps, conversation and offered tools, to show as cards."""
    if not run_ids:
        return []
    return store.query(
        f"SELECT run_id, agent, task, method, question, prediction, gold, correct, text, format, messages, "
        f"offered_tools, CASE WHEN format = 'tools' THEN steps END AS steps FROM trajectories "
        f"WHERE run_id IN ({', '.join('?' * len(run_ids))}) AND error IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY agent, correct ORDER BY run_id, key) <= {SAMPLES_PER_KIND} "
        f"ORDER BY agent, correct DESC NULLS LAST, run_id, key", run_ids)


def _notes(rows: list[dict[str, Any]], spread: list[dict[str, Any]]) -> list[str]:
    """What a reader should keep in mind: the intervals' width, and a fine-tune of one training seed."""
    notes = []
    widest = max((r["em_hi"] - r["em_lo"] for r in rows if r.get("em_lo") is not None), default=None)
    if widest is not None:
        notes.append(f"EM intervals are 95% Wilson intervals over the questions (F1: bootstrap); the widest "
                     f"here spans {widest:.1f} points. Differences inside them may be chance: an exact McNemar "
                     "test of two agents on the same questions tells.")
    if any(r["agent"] == "finetuned" for r in rows) and not spread:
        notes.append("The fine-tuned agent comes from one training seed. In FireAct Studio's own measurements a seed "
                     "alone moved EM by 5 points at 100 questions: training again with another student seed shows "
                     "the spread.")
    for s in spread:
        notes.append(f"Across {s['seeds']} training seeds ({s['task']} / {s['method']}), fine-tuned EM was "
                     f"{s['em_mean']:.1f} ± {s['em_sd']:.1f} (from {s['em_min']:.1f} to {s['em_max']:.1f}).")
    return notes


def save_dashboard(store: Store, run_ids: list[int], title: str | None = None, html_path: Path | None = None) -> str:
    """Build and store a snapshot; returns its id (the `/dashboards/<id>` of the share link). With `html_path`,
    the page is written first: a failed write stores no snapshot."""
    spec = json.loads(json.dumps(build_dashboard(store, run_ids, title), default=str))
    if html_path is not None:
        write_text(check_output_file(html_path), render_html(spec))
    dashboard_id = secrets.token_urlsafe(9)
    store.save_dashboard(dashboard_id, spec["title"], run_ids, spec)
    return dashboard_id


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `</script>` or `<!--` can close or confuse it."""
    return json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _table(rows: list[dict[str, Any]], columns: dict[str, str]) -> str:
    """An HTML table of `rows` under `columns` (key: heading), in a box of its own that scrolls sideways when
    the page is narrower than the table, so the page itself never does."""
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns.values())

    def cell(value: Any) -> str:
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    body = "".join("<tr>" + "".join(cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _span(row: dict[str, Any], metric: str) -> str | None:
    """A row's 95% interval of `metric` as "lo–hi", or None where it has none."""
    low, high = row.get(f"{metric}_lo"), row.get(f"{metric}_hi")
    return None if low is None or high is None else f"{low:.1f}–{high:.1f}"


SCORE_COLUMNS = {"agent": "agent", "model": "model", "task": "task", "method": "method", "noise": "noise",
                 "questions": "questions", "em": "EM %", "em_95": "EM 95% interval", "f1": "F1 %",
                 "f1_95": "F1 95% interval", "finished_pct": "finished %", "mean_steps": "steps",
                 "tokens_in": "tokens in", "tokens_out": "tokens out", "latency_s": "waiting s per question",
                 "compute_s": "machine s per question", "cost_per_1000": "USD per 1000 questions"}
ROUND_COLUMNS = {"recipe": "recipe", "round": "round", "task": "task", "method": "method", "em": "EM %",
                 "em_95": "EM 95% interval", "kept": "attempts kept", "teacher_examples": "teacher examples",
                 "student_examples": "student examples", "student_share": "student share %",
                 "against_round0": "against round 0"}


def _with_spans(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r | {"em_95": _span(r, "em"), "f1_95": _span(r, "f1")} for r in rows]


def _rounds_html(rows: list[dict[str, Any]]) -> str:
    return f"<h2>Self-improvement rounds</h2>{_table(_with_spans(rows), ROUND_COLUMNS)}" if rows else ""


def _sample_html(sample: dict[str, Any]) -> str:
    """One sample episode, folded: who answered what, right or wrong, and its whole text; a `tools`-format one
    (snapshots from before the format have none) as its cards and its raw chat."""
    verdict = {True: "right", False: "wrong"}.get(sample["correct"], "not scored")
    head = " · ".join(html.escape(str(sample[k])) for k in ("agent", "task", "method"))
    if sample.get("format") == "tools":
        offered = sample.get("offered_tools")
        cards = step_cards([Step(**s) for s in sample.get("steps") or []], string_params(offered),
                           unscored=sample["correct"] is None)
        body = f"<div class='cards'>{cards}</div>{raw_chat(sample.get('messages'), offered)}"
    else:
        body = f"<pre>{html.escape(sample['text'])}</pre>"
    return (f'<details class="{verdict.replace(" ", "-")}"><summary>{head}{format_marker(sample.get("format"))} · '
            f"<b>{verdict}</b>: {html.escape(str(sample['question']))}</summary>"
            f"<p>prediction: <b>{html.escape(str(sample['prediction']))}</b> · gold: "
            f"{html.escape(str(sample['gold']))}</p>{body}</details>")


# The page fits any width from a phone's up: tables scroll in their own box, long words and text wrap.
PAGE_CSS = """*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem 2rem;max-width:1200px}
p,summary,h1{overflow-wrap:anywhere}
.table{overflow-x:auto;margin:.5rem 0}
table{border-collapse:collapse;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
td{white-space:nowrap}
th{background:#f3f4f6}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.5rem}
details{margin:.25rem 0}
.figure{height:420px;margin:1rem 0;width:100%}""" + CARDS_CSS


def render_html(spec: dict[str, Any]) -> str:
    """One self-contained HTML page for a dashboard snapshot; opens offline, and stands on its own: nothing
    on it points to the studio's tabs or to files of the machine that made it."""
    from plotly.offline import get_plotlyjs

    divs = "".join(f'<div class="figure" id="figure-{i}"></div>' for i in range(len(spec["figures"])))
    title = html.escape(spec["title"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · FireAct Studio</title>
<style>{PAGE_CSS}</style>
<script>{get_plotlyjs()}</script></head>
<body><h1>{title}</h1>
<p>FireAct Studio dashboard · runs {html.escape(", ".join(f"{r['id']} ({r['stage']})" for r in spec["runs"]))}</p>
<h2>Scores</h2>{_table(_with_spans(spec["scores"]), SCORE_COLUMNS)}
{"".join(f"<p class='note'>{html.escape(n)}</p>" for n in spec.get("notes", []))}
{_rounds_html(spec.get("rounds", []))}
<h2>Figures</h2>{divs}
<h2>Sample episodes</h2>{"".join(_sample_html(s) for s in spec["samples"])}
<script>
const figures = {_script_json(spec["figures"])};
figures.forEach((f, i) => Plotly.newPlot("figure-" + i, f.data, f.layout, {{responsive: true}}));
</script>
</body></html>
"""
