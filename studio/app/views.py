"""What the tabs show, as plain data read from the store, the recipes folder and the job queue.

No Gradio here. Every function takes the `Studio` (the process's store, recipes folder and jobs) and
returns lists, dicts or text; the tab modules only put them into components. Model text is returned as
it is: the tabs show it in text components (never as HTML), and Markdown built here escapes it.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage import Store
from studio.app.jobs import ACTIVE, JobQueue
from studio.app.schema_form import new_recipe_yaml, parsed
from studio.errors import StudioError
from studio.owner import checks
from studio.owner.config import OwnerConfig, active_config
from studio.paths import RECIPES_DIR, default_db
from studio.recipe.edit import set_fields
from studio.recipe.io import RecipeError, parse_recipe
from studio.recipe.schema import Recipe
from studio.results.insight import AgentScore, Comparison, Side, agent_scores, compare, run_result, sides
from studio.stages.estimate import Estimate
from studio.stages.runs import PIPELINE, stored_tools

TRAJECTORY_LIMIT = 500  # rows the trajectory table shows at once
STAGE_CHOICES = ("all", *PIPELINE)


def recipes_dir(override: str | Path | None = None, store_path: Path | None = None) -> Path:
    """Where Save writes `NAME.yaml`: the argument, else `STUDIO_RECIPES`, else `recipes/` beside the database
    (never the repository's recipes/, whose shipped recipes stay as shipped)."""
    chosen = override or os.environ.get("STUDIO_RECIPES")
    if chosen:
        return Path(chosen)
    return Path(store_path or default_db()).parent / "recipes"


@dataclass
class Studio:
    """The studio process's state: the one store, the recipes folders (the user's, where Save writes, and the
    shipped ones, read-only) and the job queue."""

    store: Store
    recipes_dir: Path
    jobs: JobQueue
    tmp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fireact-studio-")))
    shipped_dir: Path | None = RECIPES_DIR

    @property
    def owner(self) -> OwnerConfig:
        """The owner's config, read anew each time, so an edit of the file applies without a restart."""
        return active_config(self.store.path)

    def shipped(self) -> set[str]:
        """Names of the recipes shipped with the studio (Save asks for another name)."""
        if self.shipped_dir is None or self.shipped_dir.resolve() == self.recipes_dir.resolve():
            return set()
        return {p.stem for p in self.shipped_dir.glob("*.yaml")}


def esc(value: Any) -> str:
    """Text for Markdown, shown as text: HTML-escaped, Markdown's markup characters neutralised, and the
    pieces GitHub-flavoured Markdown turns into links by themselves (`https://`, `www.`, `a@b`) broken up
    with character references, so no title or name becomes a link or an image the browser fetches. Quotes stay
    as they are: outside a tag they are text, and `&#x27;` would show literally once its `#` is escaped."""
    text = html.escape("" if value is None else str(value), quote=False)
    for ch in "\\`*_[]#|!~":
        text = text.replace(ch, "\\" + ch)
    return text.replace(":", "&#58;").replace("@", "&#64;").replace("www.", "www&#46;").replace("WWW.", "WWW&#46;")


# -- recipes --------------------------------------------------------------------------------------------


def recipe_names(studio: Studio) -> list[str]:
    """Recipes in the recipes folders and in the store, by name."""
    files = {p.stem for p in studio.recipes_dir.glob("*.yaml")} if studio.recipes_dir.is_dir() else set()
    return sorted(files | studio.shipped() | set(studio.store.list_recipes()))


def read_recipe(studio: Studio, name: str) -> str:
    """The recipe's YAML text as saved (comments kept): the user's file, else the shipped one, else the store's
    copy. Only by name: a path typed in is refused, so nothing outside the recipes folders is ever opened."""
    try:
        checks.recipe_name(name)
    except checks.Refused as exc:
        raise KeyError(str(exc)) from None
    folders = [studio.recipes_dir] + ([studio.shipped_dir] if name in studio.shipped() else [])
    for folder in folders:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    text = studio.store.get_recipe(name)
    if text is None:
        raise KeyError(f"no recipe named {name!r}")
    return text


class ShippedName(RecipeError):
    """Save was asked to write over a recipe shipped with the studio."""


def parse(studio: Studio, text: str, source: str = "recipe") -> Recipe:
    """The recipe text validated against this studio's owner config (RecipeError naming field and line)."""
    return parse_recipe(text, source, studio.owner)


def save_recipe(studio: Studio, text: str) -> tuple[Recipe, Path]:
    """Validate, then write `NAME.yaml` in the user's recipes folder and the store's copy; RecipeError when
    invalid, or when the name is a shipped recipe's (those stay as shipped: Clone saves a copy)."""
    recipe = parse(studio, text)
    if recipe.name in studio.shipped():
        raise ShippedName([f"{recipe.name} is a recipe shipped with the studio; save your version under a new "
                           "name (Clone gives one)"])
    studio.recipes_dir.mkdir(parents=True, exist_ok=True)
    path = studio.recipes_dir / f"{recipe.name}.yaml"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    studio.store.save_recipe(recipe.name, text)
    return recipe, path


def load_saved(studio: Studio, name: str) -> Recipe:
    return parse(studio, read_recipe(studio, name), f"{name}.yaml")


def load_or_problem(studio: Studio, name: str | None) -> Recipe | str:
    """The saved recipe, or one plain line saying why it cannot be used: none picked, none saved, not valid."""
    if not name:
        return "⚠ pick a recipe first (save one in the Recipes tab)"
    try:
        return load_saved(studio, name)
    except KeyError:
        return f"⚠ no recipe named {esc(name)}: save it in the Recipes tab first"
    except RecipeError as exc:
        return f"⚠ recipe {esc(name)} is not valid: {esc('; '.join(exc.problems))}"


def renamed(text: str, name: str) -> str:
    """The recipe text with another name (a clone), comments and layout kept; a new recipe of that name when
    the text is not a YAML mapping."""
    try:
        return set_fields(text, {"name": name})
    except RecipeError:
        return new_recipe_yaml(name)


def unused_name(studio: Studio, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first name no saved recipe has."""
    taken = set(recipe_names(studio))
    candidate, i = base, 2
    while candidate in taken:
        candidate, i = f"{base}-{i}", i + 1
    return candidate


def clone_name(studio: Studio, name: str) -> str:
    return unused_name(studio, f"{name or 'recipe'}-copy")


def unparsed(studio: Studio, text: str) -> str | None:
    """Why the form cannot follow a recipe text (its YAML syntax error, with the line), or None when the text
    is a YAML mapping the form can show."""
    if parsed(text) is not None:
        return None
    problems = check(studio, text)
    return problems[0].removeprefix("recipe: ") if problems else "the YAML is not a mapping of fields (line 1)"


def check(studio: Studio, text: str) -> list[str]:
    """Problems of a recipe text, one line each with field and line; empty when it is valid."""
    try:
        parse(studio, text)
    except RecipeError as exc:
        return exc.problems
    return []


def _code_spans(escaped: str) -> str:
    """Escaped text with its `name` spans as code."""
    return re.sub(r"`([^`<>]*)`", r"<code>\1</code>", escaped)


def tools_check_html(studio: Studio, text: str) -> str:
    """What the recipe in the editor can give its agents, as one HTML block for a Markdown component: the MCP
    config in use, the servers a recipe may name in `mcp:`, and per entry of its tool list either its tools
    (name, description, arguments schema) or the line saying why not; the recipe's problems when it is not
    valid. Every name and description escaped."""
    from studio.stages.tools_check import check_tools

    e = html.escape
    try:
        recipe = parse(studio, text)
    except RecipeError as exc:
        items = "".join(f"<li>{e(p)}</li>" for p in exc.problems)
        return (f'<div class="tools-check recipe-problems"><b>The tools cannot be checked: the recipe is not '
                f"valid</b><ul>{items}</ul></div>")
    try:
        servers = sorted(studio.owner.servers)
        found = check_tools(recipe, studio.store.path)
    except StudioError as exc:  # the MCP config file is wrong
        return f'<div class="tools-check recipe-problems"><b>MCP config</b>: {e(str(exc))}</div>'
    config = e(str(found.config)) if found.config else "none (the built-in servers calculator and search only)"
    parts = [f"<div><b>MCP config</b>: {config}</div>",
             f"<div><b>Servers a recipe can name</b> (<code>mcp: NAME</code>): "
             f"{', '.join(f'<code>{e(s)}</code>' for s in servers)}</div>"]
    if not found.entries:
        parts.append("<div>The recipe gives its agents no tools.</div>")
    for label, tools in found.entries:
        head = _code_spans(e(label))
        if isinstance(tools, str):
            parts.append(f'<div class="tools-entry tools-failed"><b>{head}</b>: ⚠ {_code_spans(e(tools))}</div>')
            continue
        listed = "".join(
            f"<li><code>{e(spec.name)}</code> — {e(' '.join(spec.description.split()))}<br><small>arguments: "
            f"<code>{e(json.dumps(spec.input_schema, sort_keys=True))}</code></small></li>" for spec in tools)
        parts.append(f'<div class="tools-entry"><b>{head}</b>: ✓ {plural(len(tools), "tool")}<ul>{listed}</ul></div>')
    failed = len(found.failures)
    verdict = (f'<div class="recipe-problems"><b>{failed} tool list {"entry" if failed == 1 else "entries"} cannot '
               "be offered</b>: a run of this recipe would not start</div>" if failed else
               '<div class="recipe-ok">✓ every tool can be offered</div>')
    return f'<div class="tools-check">{"".join(parts)}{verdict}</div>'


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


def em_text(stage: str, agents: list[AgentScore], detail: bool = False) -> str:
    """A run's EM for a list: each agent's own figure for an evaluate run ("prompted 0.0 · finetuned 10.0"), never
    a blend; one figure for a run of one agent (teacher, explore). `detail` adds the 95% intervals and counts."""
    def one(a: AgentScore) -> str:
        lo, hi = a.interval
        return f"{a.em:.1f}% [{lo:.1f}, {hi:.1f}] (n {a.questions})" if detail else f"{a.em:.1f}"

    if len(agents) == 1 and stage != "evaluate":
        return one(agents[0])
    return " · ".join(f"{a.agent} {one(a)}" for a in agents)


def runs_rows(studio: Studio) -> list[list[Any]]:
    from studio.results.report import run_report

    ems = agent_scores(studio.store)
    rows = []
    for run in reversed(run_report(studio.store, with_scores=False)):
        m = run["metrics"]
        rows.append([run["id"], run["name"], run["stage"], run["status"], m.get("trajectories", 0),
                     em_text(run["stage"], ems.get(run["id"], [])), round(m.get("cost") or 0.0, 4),
                     run["error"] or ""])
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
    run["em"] = em_text(run["stage"], agent_scores(studio.store, [int(run_id)]).get(int(run_id), []), detail=True)
    run["result"] = result_markdown(studio, [int(run_id)], run["recipe"]) if run["stage"] == "evaluate" else ""
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
        lines.append(f"{m['trajectories']} trajectories · EM {esc(run.get('em')) or '-'} · "
                     f"cost ${m.get('cost') or 0:.4f} · tokens in/out {m.get('tokens_in') or 0}/"
                     f"{m.get('tokens_out') or 0}")
    if m.get("train_steps"):
        lines.append(f"{m['train_steps']} training steps · final loss {m.get('final_loss') or 0:.4f}")
    if run.get("summary"):
        lines.append("summary: " + esc(", ".join(f"{k}={v}" for k, v in run["summary"].items())))
    if run.get("job"):
        lines.append(f"started by job {run['job']} of this studio session")
    if run.get("result"):
        lines.append(run["result"])
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
        else:  # an evaluate stage's agents are scored each on their own in the result, never added up here
            right = "" if stage.endswith("evaluate") else f"{p['correct']} correct · "
            lines.append(f"- **{stage}** (run {p['run_id']}): {p['done']}/{p['total']} episodes ({pct}) · "
                         f"{right}{p['failed']} failed · ${p['cost']:.4f}")
    if job["error"]:
        lines.append(f"⚠ {esc(job['error'])}")
    if job["dashboard_id"]:
        lines.append(f"Dashboard: [/dashboards/{job['dashboard_id']}](/dashboards/{job['dashboard_id']})")
    return "\n\n".join(lines)


def job_result(studio: Studio, job: dict[str, Any] | None) -> str:
    """The result of a job that evaluated, once it is over ("" before, and for jobs that did not evaluate)."""
    if job is None or job["status"] in ACTIVE:
        return ""
    evaluated = [run_id for label, run_id in job["run_ids"].items() if label.endswith("evaluate")]
    return result_markdown(studio, list(dict.fromkeys(evaluated)), job["recipe"])


def chance(p_value: float) -> str:
    """Whether a difference with this exact McNemar p could be chance, in words."""
    return ("the difference is unlikely to be chance (p < 0.05)" if p_value < 0.05 else
            "the difference could be chance (p ≥ 0.05): more questions or seeds would tell")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def link(query: dict[str, str]) -> str:
    """A link to this studio page with a deep-link query (`on_load` follows it); shareable."""
    return "?" + urllib.parse.urlencode(query)


def result_markdown(studio: Studio, run_ids: list[int], recipe: str | None) -> str:
    """Each evaluate run's result: every agent's EM with its 95% interval and question count; fine-tuned minus
    prompted on the paired questions with the exact McNemar p; links to the comparison, the Playground, Export."""
    saved = recipe in recipe_names(studio) if recipe else False
    blocks = []
    for run_id in run_ids:
        found = run_result(studio.store, run_id)
        if not found.agents:
            continue
        lines = [f"#### Result of evaluate run {run_id}"]
        for a in found.agents:
            lo, hi = a.interval
            lines.append(f"- **{esc(a.agent)}**: EM **{a.em:.1f}%** (95% interval {lo:.1f}–{hi:.1f}%, "
                         f"{plural(a.questions, 'question')})")
        links = []
        if found.tuned is not None and found.tuned.rows:
            t = found.tuned
            paired = plural(len(t.rows), "paired question")
            lines.append(f"\n**fine-tuned − prompted: {t.difference:+.1f} points** on {paired} "
                         f"(fine-tuned alone right on {t.only_b}, prompted alone on {t.only_a}) · exact McNemar "
                         f"p = {t.p_value:.3g}: {chance(t.p_value)}")
            links.append(f"[Compare them question by question]"
                         f"({link({'compare': f'{run_id}|prompted,{run_id}|finetuned'})})")
        elif found.tuned is not None:
            lines.append("\nNo question was answered by both the prompted and the fine-tuned agent.")
        if saved:
            links.append(f"[Ask them in the Playground]({link({'playground': recipe})})")
            if any(a.agent == "finetuned" for a in found.agents):
                links.append(f"[Export the fine-tuned agent]({link({'export': recipe})})")
        if links:
            lines.append("\n" + " · ".join(links))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


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

TRAJECTORY_COLUMNS = ["run", "agent", "correct", "question", "prediction", "gold"]  # what fits a page
MORE_COLUMNS = ["task", "method", "outcome", "steps"]  # on demand; a clicked row's episode view shows them all
ALL_COLUMNS = ["run", "task", "method", "agent", "correct", "outcome", "steps", "question", "prediction", "gold"]


def trajectory_options(studio: Studio) -> dict[str, list[str]]:
    """Distinct values of the filterable columns, for the filter dropdowns."""
    out = {}
    for column in ("task", "method", "agent"):
        out[column] = [r["v"] for r in studio.store.query(
            f"SELECT DISTINCT {column} AS v FROM trajectories ORDER BY 1")]
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
