"""The share page: one self-contained HTML page (plotly.js inlined, opens offline) for a dashboard snapshot, with
its CSS. Every piece of text, model output above all, is escaped.

The results' page maker: reads only the snapshot it is given (no store), imports the episode cards and the
trajectory types below it.
"""

from __future__ import annotations

import html
import json
from typing import Any

from studio.results.episode_cards import CARDS_CSS, format_marker, raw_chat, step_cards
from studio.trajectories.episode import Step
from studio.trajectories.schemas import string_params


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
                           unscored=sample["correct"] is None, tools=True)
        body = f"<div class='cards'>{cards}</div>{raw_chat(sample.get('messages'), offered)}"
    else:
        body = f"<pre>{html.escape(sample['text'])}</pre>"
    return (f'<details class="{verdict.replace(" ", "-")}"><summary>{head}{format_marker(sample.get("format"))} · '
            f"<b>{verdict}</b>: {html.escape(str(sample['question']))}</summary>"
            f"<p>prediction: <b>{html.escape(str(sample['prediction']))}</b> · gold: "
            f"{html.escape(str(sample['gold']))}</p>{body}</details>")


# The page fits any width from a phone's up: long words and text wrap. The scores' 17 columns fit a desktop
# window, their cells wrapping between words (cells kept on one line cut the last columns off); on a narrower page
# a table scrolls in its own box, whose scrollbar is always drawn (not an overlay shown only while scrolling) and
# whose edge is shaded where columns lie beyond it (the shade stays put, the white covers move with the table).
PAGE_CSS = """*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem 2rem;max-width:1200px}
p,summary,h1{overflow-wrap:anywhere}
.table{overflow-x:auto;margin:.5rem 0;
  background:linear-gradient(to right,#fff 30%,#fff0) left/2rem 100% no-repeat local,
    linear-gradient(to left,#fff 30%,#fff0) right/2rem 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%,#0003,#0000) left/.75rem 100% no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%,#0003,#0000) right/.75rem 100% no-repeat scroll}
.table::-webkit-scrollbar{height:.6rem}
.table::-webkit-scrollbar-track{background:#f1f5f9}
.table::-webkit-scrollbar-thumb{background:#94a3b8;border-radius:.3rem}
table{border-collapse:collapse;font-size:.8rem}
td,th{border:1px solid #ddd;padding:.2rem .35rem;text-align:left;vertical-align:top}
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
