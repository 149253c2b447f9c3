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
