"""What the tabs show, as plain data read from the store, the recipes folder and the job queue.

No Gradio here. Every function takes the `Studio` (the process's store, recipes folder and jobs) and
returns lists, dicts or text; the tab modules only put them into components. Model text is returned as
it is: the tabs show it in text components (never as HTML), and Markdown built here escapes it.
"""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from storage import Store
from studio.app.jobs import JobQueue
from studio.paths import RECIPES_DIR
from studio.recipe.io import RecipeError, parse_recipe
from studio.recipe.schema import Recipe
from studio.results.insight import Comparison, Side, compare, sides
from studio.stages.estimate import Estimate
from studio.stages.runs import PIPELINE

TRAJECTORY_LIMIT = 500  # rows the trajectory table shows at once
STAGE_CHOICES = ("all", *PIPELINE)


def recipes_dir(override: str | Path | None = None) -> Path:
    """Where Save writes `NAME.yaml`: the argument, else `STUDIO_RECIPES`, else the repository's recipes/."""
    return Path(override or os.environ.get("STUDIO_RECIPES") or RECIPES_DIR)


@dataclass
class Studio:
    """The studio process's state: the one store, the recipes folder and the job queue."""

    store: Store
    recipes_dir: Path
    jobs: JobQueue
    tmp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fireact-studio-")))


def esc(value: Any) -> str:
    """Text for Markdown, shown as text: HTML-escaped, Markdown's markup characters neutralised, and the
    pieces GitHub-flavoured Markdown turns into links by themselves (`https://`, `www.`, `a@b`) broken up
    with character references, so no title or name becomes a link or an image the browser fetches."""
    text = html.escape("" if value is None else str(value))
    for ch in "\\`*_[]#|!~":
        text = text.replace(ch, "\\" + ch)
    return text.replace(":", "&#58;").replace("@", "&#64;").replace("www.", "www&#46;").replace("WWW.", "WWW&#46;")


# -- recipes --------------------------------------------------------------------------------------------


def recipe_names(studio: Studio) -> list[str]:
    """Recipes in the recipes folder and in the store, by name."""
    files = {p.stem for p in studio.recipes_dir.glob("*.yaml")} if studio.recipes_dir.is_dir() else set()
    return sorted(files | set(studio.store.list_recipes()))


def read_recipe(studio: Studio, name: str) -> str:
    """The recipe's YAML text as saved (comments kept): its file, else the store's copy."""
    path = studio.recipes_dir / f"{name}.yaml"
    if name and path.is_file():
        return path.read_text(encoding="utf-8")
    text = studio.store.get_recipe(name) if name else None
    if text is None:
        raise KeyError(f"no recipe named {name!r}")
    return text


def save_recipe(studio: Studio, text: str) -> tuple[Recipe, Path]:
    """Validate, then write `recipes/NAME.yaml` and the store's copy; RecipeError when invalid."""
    recipe = parse_recipe(text, "recipe")
    studio.recipes_dir.mkdir(parents=True, exist_ok=True)
    path = studio.recipes_dir / f"{recipe.name}.yaml"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    studio.store.save_recipe(recipe.name, text)
    return recipe, path


def load_saved(studio: Studio, name: str) -> Recipe:
    return parse_recipe(read_recipe(studio, name), f"{name}.yaml")


def renamed(text: str, name: str) -> str:
    """The recipe text with another name (a clone); the text is re-dumped when it is not a mapping."""
    data = yaml.safe_load(text) if text.strip() else {}
    if not isinstance(data, dict):
        data = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):  # keep comments and layout: replace the top-level `name:` line
        if line.startswith("name:"):
            lines[i] = f"name: {name}"
            return "\n".join(lines) + "\n"
    rest = {k: v for k, v in data.items() if k != "name"}
    return yaml.safe_dump({"name": name, **rest}, sort_keys=False, allow_unicode=True)


def unused_name(studio: Studio, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first name no saved recipe has."""
    taken = set(recipe_names(studio))
    candidate, i = base, 2
    while candidate in taken:
        candidate, i = f"{base}-{i}", i + 1
    return candidate


def clone_name(studio: Studio, name: str) -> str:
    return unused_name(studio, f"{name or 'recipe'}-copy")


def same_recipe(a: str, b: str) -> bool:
    """Whether two recipe texts are valid and mean the same recipe (defaults spelled out or not)."""
    try:
        return parse_recipe(a) == parse_recipe(b)
    except RecipeError:
        return False


def check(text: str) -> list[str]:
    """Problems of a recipe text, one line each with field and line; empty when it is valid."""
    try:
        parse_recipe(text, "recipe")
    except RecipeError as exc:
        return exc.problems
    return []


# -- runs and jobs --------------------------------------------------------------------------------------


def busy_message(studio: Studio, what: str) -> str | None:
    """Why `what` (the playground, an estimate's dry run) should wait: a running job (llama.cpp beside training
    slows both by orders of magnitude on a small CPU)."""
    job = studio.jobs.get(studio.jobs.current())
    if job and job["status"] in ("running", "cancelling"):
        return (f"⚠ job {job['id']} is running ({esc(str(job.get('stage') or ''))}); {what} waits until it is "
                "done, so the two do not slow each other down")
    return None


def estimate_markdown(found: Estimate) -> str:
    """The estimate as a Markdown table (every cell escaped), the totals first: what a new user asks."""
    total = {line.item: line.shown for line in found.lines if line.stage == "total"}
    lines = ["| stage | what | estimate | from |", "| --- | --- | --- | --- |"]
    lines += [f"| {esc(line.stage)} | {esc(line.item)} | {esc(line.shown)} | {esc(line.basis)} |"
              for line in found.lines]
    head = f"**Estimate for {esc(found.recipe)}** (before Start)"
    if total:
        head += f": {esc(total.get('time', 'unknown'))} and {esc(total.get('cost', 'unknown'))} in all"
    return head + "\n\n" + "\n".join(lines)

RUN_COLUMNS = ["id", "name", "stage", "status", "trajectories", "EM", "cost $", "error"]
JOB_COLUMNS = ["job", "recipe", "stages", "status", "stage", "elapsed s", "cost $", "runs"]


def runs_rows(studio: Studio) -> list[list[Any]]:
    from studio.results.report import run_report

    rows = []
    for run in reversed(run_report(studio.store, with_scores=False)):
        m = run["metrics"]
        em = m.get("em")
        rows.append([run["id"], run["name"], run["stage"], run["status"], m.get("trajectories", 0),
                     "" if em is None else round(100 * em, 1), round(m.get("cost") or 0.0, 4), run["error"] or ""])
    return rows


def run_choices(studio: Studio) -> list[tuple[str, int]]:
    return [(f"{r['id']} · {r['name']} ({r['stage']}, {r['status']})", r["id"])
            for r in reversed(studio.store.list_runs())]


def run_detail(studio: Studio, run_id: int | None) -> dict[str, Any] | None:
    """One run: its report entry and its training loss points."""
    if run_id is None:
        return None
    from studio.results.report import run_report

    run = next((r for r in run_report(studio.store, with_scores=False) if r["id"] == int(run_id)), None)
    if run is None:
        return None
    run["loss"] = [(m["step"], m["loss"]) for m in studio.store.train_metrics(int(run_id)) if m["loss"] is not None]
    run["job"] = studio.jobs.job_for_run(int(run_id))
    return run


def run_markdown(run: dict[str, Any] | None) -> str:
    if run is None:
        return "No run selected."
    m = run["metrics"]
    lines = [f"### Run {run['id']}: {esc(run['name'])}",
             f"stage **{esc(run['stage'])}** · status **{esc(run['status'])}** · recipe {esc(run['recipe'] or '-')} · "
             f"created {esc(run['created_at'])}"]
    if run["error"]:
        lines.append(f"⚠ {esc(run['error'])}")
    if m.get("trajectories"):
        em = m.get("em")
        lines.append(f"{m['trajectories']} trajectories · EM {'-' if em is None else f'{100 * em:.1f}%'} · "
                     f"cost ${m.get('cost') or 0:.4f} · tokens in/out {m.get('tokens_in') or 0}/"
                     f"{m.get('tokens_out') or 0}")
    if m.get("train_steps"):
        lines.append(f"{m['train_steps']} training steps · final loss {m.get('final_loss') or 0:.4f}")
    if run.get("summary"):
        lines.append("summary: " + esc(", ".join(f"{k}={v}" for k, v in run["summary"].items())))
    if run.get("job"):
        lines.append(f"started by job {run['job']} of this studio session")
    return "\n\n".join(lines)


def job_rows(studio: Studio) -> list[list[Any]]:
    return [[j["id"], j["recipe"], ",".join(j["stages"]), j["status"], j["stage"] or "", j["elapsed_s"],
             round(j["cost"], 4), ", ".join(f"{k} {v}" for k, v in j["run_ids"].items())]
            for j in studio.jobs.list()]


def job_choices(studio: Studio) -> list[tuple[str, int]]:
    return [(f"job {j['id']} · {j['recipe']} · {','.join(j['stages'])} ({j['status']})", j["id"])
            for j in studio.jobs.list()]


def job_markdown(job: dict[str, Any] | None) -> str:
    """The live counters of a job: per stage done/total, failed, correct, cost, loss; tokens/s."""
    if job is None:
        return "No job yet: pick a recipe and start a stage."
    lines = [f"### Job {job['id']}: {esc(job['recipe'])} — **{job['status']}**",
             f"stages {esc(', '.join(job['stages']))}"
             + (f" · now: {esc(job['stage'] or '-')}" if job["status"] in ("running", "cancelling") else "") + " · "
             f"{job['elapsed_s']:.0f} s · cost so far **${job['cost']:.4f}**"
             + (f" · **{job['tokens_per_s']:.1f} tokens/s**" if job["tokens_per_s"] else "")]
    for stage, p in job["progress"].items():
        pct = f"{100 * p['done'] / p['total']:.0f}%" if p["total"] else "-"
        if stage == "train":
            loss = f" · loss {p['loss']:.4f}" if p["loss"] is not None else ""
            lines.append(f"- **{stage}** (run {p['run_id']}): step {p['done']}/{p['total']} ({pct}){loss}")
        else:
            lines.append(f"- **{stage}** (run {p['run_id']}): {p['done']}/{p['total']} episodes ({pct}) · "
                         f"{p['correct']} correct · {p['failed']} failed · ${p['cost']:.4f}")
    if job["error"]:
        lines.append(f"⚠ {esc(job['error'])}")
    if job["dashboard_id"]:
        lines.append(f"Dashboard: [/dashboards/{job['dashboard_id']}](/dashboards/{job['dashboard_id']})")
    return "\n\n".join(lines)


def job_log(job: dict[str, Any] | None) -> str:
    if job is None:
        return ""
    text = "\n".join(job["log"])
    for log in job["stage_logs"]:
        text += f"\n--- {log['title']} log (tail) ---\n" + "\n".join(log["lines"])
    return text


def loss_figure(points: list[tuple[int, float]], title: str = "Training loss"):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name="loss")
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss", height=300,
                      margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig


# -- trajectories ---------------------------------------------------------------------------------------

TRAJECTORY_COLUMNS = ["run", "task", "method", "agent", "correct", "outcome", "steps", "question", "prediction",
                      "gold"]


def trajectory_options(studio: Studio) -> dict[str, list[str]]:
    """Distinct values of the filterable columns, for the filter dropdowns."""
    out = {}
    for column in ("task", "method", "agent"):
        out[column] = [r["v"] for r in studio.store.query(
            f"SELECT DISTINCT {column} AS v FROM trajectories ORDER BY 1")]
    return out


LIST_COLUMNS = ("run_id", "key", "task", "method", "agent", "correct", "outcome", "n_steps", "question",
                "prediction", "gold")


def find_trajectories(studio: Studio, run_id: int | None = None, task: str | None = None, method: str | None = None,
                      agent: str | None = None, correct: bool | None = None, outcome: str | None = None,
                      page: int = 1) -> tuple[list[dict[str, Any]], int]:
    """Page `page` (from 1, TRAJECTORY_LIMIT a page) of the episodes matching the filters (empty: any), and the
    full count; the list columns only."""
    filters = {"run_id": int(run_id) if run_id not in (None, "") else None, "task": task or None,
               "method": method or None, "agent": agent or None, "correct": correct, "outcome": outcome or None}
    offset = (max(1, int(page or 1)) - 1) * TRAJECTORY_LIMIT
    return studio.store.trajectory_page(LIST_COLUMNS, TRAJECTORY_LIMIT, offset, **filters)


def trajectory_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    def short(text: Any, n: int = 120) -> str:
        text = "" if text is None else str(text)
        return text if len(text) <= n else text[: n - 1] + "…"

    return [[r["run_id"], r["task"], r["method"], r["agent"], "" if r["correct"] is None else bool(r["correct"]),
             r["outcome"] or "", r["n_steps"], short(r["question"]), short(r["prediction"], 60), short(r["gold"], 60)]
            for r in rows]


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
    verdict = ("the difference is unlikely to be chance (p < 0.05)" if found.p_value < 0.05 else
               "the difference could be chance (p ≥ 0.05): more questions or seeds would tell")
    return (f"**{n} paired questions** · both right {both} · only A ({esc(found.a.label)}) {found.only_a} · "
            f"only B ({esc(found.b.label)}) {found.only_b} · neither {neither} · exact McNemar "
            f"**p = {found.p_value:.3g}**: {verdict}")


def comparison_rows(found: Comparison) -> list[list[Any]]:
    return [[r["task"], r["method"], r["question"], r["gold"] or "", r["a_prediction"] or "", bool(r["a_correct"]),
             r["b_prediction"] or "", bool(r["b_correct"])] for r in found.shown]


def pair_lanes(studio: Studio, a: str, b: str, a_key: str, b_key: str) -> list[str]:
    """Both episodes of a paired question, as card timelines side by side."""
    from studio.app.cards import lane_html, stored_lane, stored_question

    lanes = []
    for side, key in ((_side(a), a_key), (_side(b), b_key)):
        ep = episode(studio, side.run_id, key)
        lanes.append(lane_html(stored_lane(ep), stored_question(ep)) if ep else "That episode is gone.")
    return lanes


def episode(studio: Studio, run_id: int, key: str) -> dict[str, Any] | None:
    rows = studio.store.trajectories(int(run_id), key=key)
    return rows[0] if rows else None


# -- dashboards -----------------------------------------------------------------------------------------


def dashboards_rows(studio: Studio) -> list[list[Any]]:
    rows = studio.store.query("SELECT id, title, run_ids, created_at FROM dashboards ORDER BY created_at DESC")
    return [[d["id"], d["title"], ", ".join(map(str, d["run_ids"] or [])), str(d["created_at"])[:19]] for d in rows]


def dashboard_file(studio: Studio, dashboard_id: str) -> Path:
    """The dashboard as one self-contained HTML file in the studio's temporary folder (for a download)."""
    from studio.results.dashboards import render_html

    found = studio.store.get_dashboard(dashboard_id)
    if found is None:
        raise KeyError(f"no dashboard {dashboard_id!r}")
    path = studio.tmp_dir / f"dashboard-{dashboard_id}.html"
    path.write_text(render_html(found["spec"]), encoding="utf-8")
    return path
