"""Figures that tell the truth, a share page that stands on its own, and a model card that reads as written:
units on the dashboard spec, the share page's HTML and the export stage's model card (issue #25)."""

from __future__ import annotations

import json
import re

import pytest

from studio.results.dashboards import build_dashboard
from studio.results.share_page import render_html
from studio.trajectories.episode import Episode
from tests.support.http import visible_text
from tests.support.seeds import episodes, evaluated


def figure(spec: dict, title: str) -> dict | None:
    return next((f for f in spec["figures"] if f["layout"]["title"]["text"] == title), None)


def test_no_cost_figure_when_nothing_billed_but_a_line_saying_so(store):
    spec = build_dashboard(store, [evaluated(store, {"compute_s": 1.5}, {"compute_s": 1.6})])
    assert figure(spec, "EM against cost") is None
    assert "No run billed anything: every agent ran locally at no price per hour, $0" in spec["notes"][0]
    assert figure(spec, "EM against time") is not None


def test_cost_and_time_axes_start_at_zero(store):
    """1.54 against 1.59 s: an axis from 1.54 to 1.59 makes 0.05 s look like everything."""
    spec = build_dashboard(store, [evaluated(store, {"cost": 0.002, "compute_s": 1.54},
                                             {"cost": 0.003, "compute_s": 1.59})])
    for title, largest in (("EM against cost", 3.0), ("EM against time", 1.59)):
        fig = figure(spec, title)
        low, high = fig["layout"]["xaxis"]["range"]
        assert low == 0 and high > largest, title
        xs = [x for trace in fig["data"] for x in trace["x"]]
        assert max(xs) == pytest.approx(largest)
    assert not any("no figure" in n for n in spec["notes"])


def test_unscored_episodes_are_left_out_of_the_em_figures(store):
    """A teacher run of imported episodes has no EM (no gold): it cannot stand on an EM axis, nor break it."""
    scored = evaluated(store, {"compute_s": 1.5}, {"compute_s": 1.6})
    imported = store.create_run("import", "generate", None, "demo")
    store.add_episodes(imported, [Episode(task="hotpotqa", question_id="q9", question="Q9?", method="react",
                                          agent="teacher", text="Action: finish[x]\n", prediction="x",
                                          compute_s=2.0, latency_s=2.0)])
    store.set_run_status(imported, "done")
    fig = figure(build_dashboard(store, [scored, imported]), "EM against time")
    assert [trace["name"] for trace in fig["data"]] == ["finetuned", "prompted"]


@pytest.mark.parametrize(("right", "placed"), [
    ((True,) * 4, {"finetuned": "bottom right", "prompted": "top left"}),  # EM 100 and 0: inwards from the edges
    ((True, True, True, True, False, False, False), {"finetuned": "top right", "prompted": "bottom left"}),  # 57, 43
])
def test_point_labels_stay_inside_the_plot_and_apart(store, right, placed):
    """Labels go towards the middle from the plot's edges and from either side, and away from each other in the
    middle; EM's axis is 0-100 and nothing is clipped at its edge."""
    spec = build_dashboard(store, [evaluated(store, {"cost": 0.002, "compute_s": 0.1},
                                             {"cost": 0.004, "compute_s": 2.0}, right=right)])
    fig = figure(spec, "EM against time")
    assert fig["layout"]["yaxis"]["range"] == [0, 100]
    assert {trace["name"]: trace["textposition"] for trace in fig["data"]} == {a: [p] for a, p in placed.items()}
    assert all(trace["cliponaxis"] is False for trace in fig["data"])


def test_figure_json_is_small(store):
    """Plotly's default template is 7 kB in every figure; the dashboards carry a small one."""
    spec = build_dashboard(store, [evaluated(store, {"cost": 0.002, "compute_s": 1.0},
                                             {"cost": 0.003, "compute_s": 2.0})])
    for fig in spec["figures"]:
        assert len(json.dumps(fig["layout"]["template"])) < 1000
    assert len(json.dumps(spec["figures"])) < 5000 * len(spec["figures"])


def test_sample_episodes_hold_a_right_and_a_wrong_one_of_each_agent(store):
    """The first questions are all right for the fine-tuned agent and all wrong for the prompted one; the samples
    still show both kinds of each."""
    right = (True,) * 4 + (False,) * 2
    spec = build_dashboard(store, [evaluated(store, {}, {}, right=right)])
    kinds = {(s["agent"], s["correct"]) for s in spec["samples"]}
    assert kinds == {("finetuned", True), ("finetuned", False), ("prompted", True), ("prompted", False)}
    page = render_html(spec)
    assert page.count("<b>right</b>") == page.count("<b>wrong</b>") == 4


def test_the_share_page_stands_on_its_own(store):
    spec = build_dashboard(store, [evaluated(store, {}, {})])
    text = visible_text(render_html(spec))
    assert "`" not in text
    assert not re.search(r"\b(Trajectories|Runs|Playground|Export|Dashboards) tab\b|README|artifacts/", text), text
    assert "No run billed anything" in text


def test_share_page_tables_scroll_in_their_own_box(store):
    page = render_html(build_dashboard(store, [evaluated(store, {}, {})]))
    assert page.count('<div class="table"><table>') == 1 and ".table{overflow-x:auto" in page
    assert 'name="viewport"' in page and "box-sizing:border-box" in page
    assert "<th>EM 95% interval</th>" in page and "<td>23.1–88.2</td>" in page  # 3 of 5 right: Wilson


def card(store, tmp_path, rows: list[bool] | None) -> str:
    from studio.recipe.io import parse_recipe
    from studio.stages.export import ExportResult, model_card
    from studio.stages.runs import open_run

    recipe = parse_recipe("name: carded\n")
    if rows is not None:
        run, _ = open_run(store, recipe, "evaluate")
        store.add_episodes(run, episodes("finetuned", rows))
        store.set_run_status(run, "done")
    return model_card(recipe, store, ExportResult(tmp_path, "peft"))


def test_the_model_card_keeps_the_prompt_block_and_gives_intervals(store, tmp_path):
    text = card(store, tmp_path, [True, True, False, False])
    block = re.search(r"```text\n(.*?)\n```", text, flags=re.S)
    assert block and block.group(1) == "Question: QUESTION\nThought:"
    assert "| EM (95% interval) |" in text and "| F1 (95% interval) |" in text
    row = next(line for line in text.splitlines() if line.startswith("| finetuned"))
    assert "50.0 [15.0, 85.0]" in row  # 2 of 4 right: Wilson


def test_the_model_card_of_an_unevaluated_recipe_says_so(store, tmp_path):
    assert "Not evaluated yet" in card(store, tmp_path, None)


def imported_run(store, tmp_path) -> int:
    """An import of six recorded HotpotQA trajectories (the teacher's, scored against their gold)."""
    from studio.paths import DATA_DIR
    from studio.stages.importing import import_trajectories

    records = json.loads((DATA_DIR / "fireact/finetune/alpaca_format/hotpotqa.json").read_text())[:6]
    (tmp_path / "six.json").write_text(json.dumps(records))
    return import_trajectories(store, tmp_path / "six.json", "alpaca", task="hotpotqa", name="six recorded").run_id


def test_imported_trajectories_stay_out_of_the_figures_that_compare_agents(store, tmp_path):
    """Recorded trajectories kept to the right ones score EM 100 by construction: beside a measured evaluation they
    mislead, so the figures leave the import out, the table keeps it and a note says why (issue #35.5)."""
    imported = imported_run(store, tmp_path)
    spec = build_dashboard(store, [evaluated(store, {"compute_s": 1.5}, {"compute_s": 1.6}), imported])
    for title in ("EM and F1 by agent, task and method (bars: 95% interval)", "EM against time", "Steps per episode",
                  "What became of the episodes"):
        named = " ".join(trace["name"] for trace in figure(spec, title)["data"])
        xs = " ".join(str(x) for trace in figure(spec, title)["data"] for x in trace["x"])
        assert "teacher" not in named + xs and "finetuned" in named + xs, title
    assert {r["agent"] for r in spec["scores"]} == {"finetuned", "prompted", "teacher"}
    assert any(f"Run {imported} (six recorded) imported recorded trajectories" in n for n in spec["notes"])


def test_steps_are_shares_of_each_agents_episodes(store):
    """An agent with twice the episodes would stand twice as tall in counts: each agent's bars add up to 100%."""
    run = store.create_run("eval", "evaluate", None, "demo")
    store.add_episodes(run, episodes("finetuned", [True] * 8))
    store.add_episodes(run, episodes("prompted", [False] * 2))
    fig = figure(build_dashboard(store, [run]), "Steps per episode")
    assert {trace["name"]: sum(trace["y"]) for trace in fig["data"]} == {"finetuned": 100, "prompted": 100}
    assert {trace["name"]: trace["customdata"] for trace in fig["data"]} == {"finetuned": [8], "prompted": [2]}
    assert fig["layout"]["yaxis"]["title"]["text"] == "share of the agent's episodes (%)"


def test_every_legend_lies_along_the_figures_bottom_edge(store):
    """A legend under the plot in paper coordinates (y -0.25) lay over the x-axis title; one placed in the
    container is added to the margin below the tick labels and the title (the share page's Chromium test checks
    the boxes)."""
    spec = build_dashboard(store, [evaluated(store, {"cost": 0.002, "compute_s": 1.0},
                                             {"cost": 0.003, "compute_s": 2.0})])
    for fig in spec["figures"]:
        legend = fig["layout"]["legend"]
        assert (legend["orientation"], legend["yref"], legend["yanchor"], legend["y"]) == ("h", "container",
                                                                                           "bottom", 0), legend


def lab(colour: str) -> tuple[float, float, float]:
    """CIE L*a*b* of an sRGB colour "#rrggbb" (D65)."""
    rgb = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92 for c in rgb)
    xyz = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
           (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
    x, y, z = (t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116 for t in xyz)
    return 116 * y - 16, 500 * (x - y), 200 * (y - z)


DISTINCT = 20  # CIE76 difference below which two colours read as one at a glance (amber and yellow were 16)


@pytest.mark.parametrize("palette", ["AGENT_COLOURS", "OUTCOME_COLOURS"])
def test_no_two_agents_or_outcomes_look_alike(palette):
    import itertools
    import math

    import studio.results.figures

    colours = getattr(studio.results.figures, palette)
    for (a, first), (b, second) in itertools.combinations(colours.items(), 2):
        assert math.dist(lab(first), lab(second)) >= DISTINCT, (a, first, b, second)


def test_the_noise_figure_draws_each_agent_in_its_colour(store):
    """Without its agent's colour a line took the next of plotly's, whose orange is the fine-tuned agent's."""
    from studio.results.figures import AGENT_COLOURS

    run = store.create_run("eval", "evaluate", None, "demo")
    for noise in (0.0, 0.5):
        for agent in ("prompted", "teacher"):
            made = episodes(agent, [True, False])
            for episode in made:
                episode.noise = noise
            store.add_episodes(run, made)
    fig = figure(build_dashboard(store, [run]), "Robustness to noisy search")
    assert {trace["name"]: trace["marker"]["color"] for trace in fig["data"]} == {
        "prompted/hotpotqa/react": AGENT_COLOURS["prompted"], "teacher/hotpotqa/react": AGENT_COLOURS["teacher"]}
