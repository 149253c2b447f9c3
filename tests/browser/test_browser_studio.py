"""The studio in a real browser: Debian Chromium driven by Playwright against the app served in this process.

Screenshots of every tab go to artifacts/screenshots/ (git-ignored). `tests/run.sh` installs Chromium.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.browser import SHOTS, choose, open_section, open_studio, set_yaml, tab, type_into, yaml_text

RUN_TIMEOUT_MS = int(os.environ.get("STUDIO_BROWSER_RUN_TIMEOUT_S", "900")) * 1000

pytestmark = pytest.mark.slow


def test_form_edits_change_the_yaml_and_yaml_edits_fill_the_form(page):
    from playwright.sync_api import expect

    page.locator("#recipe-new").click()
    expect(page.locator("#recipe-status")).to_contain_text("new recipe")
    type_into(page.locator("#field-name textarea"), "browser-demo")
    expect(page.locator("#recipe-yaml")).to_contain_text("name: browser-demo")
    page.locator("#field-methods").get_by_label("cot").check()
    expect(page.locator("#recipe-yaml")).to_contain_text("methods: [react, cot]")
    open_section(page, "student")
    page.locator("#field-student-max_steps input").fill("2")
    expect(page.locator("#recipe-yaml")).to_contain_text("max_steps: 2")
    assert "student:" in yaml_text(page) and "valid recipe" in page.locator("#recipe-problems").inner_text()

    set_yaml(page, "name: from-yaml\nteacher:\n  max_tokens: 99\n")
    expect(page.locator("#field-name textarea")).to_have_value("from-yaml")
    open_section(page, "teacher")
    expect(page.locator("#field-teacher-max_tokens input")).to_have_value("99")
    expect(page.locator("#field-student-max_steps input")).to_have_value("")  # gone from the YAML: cleared
    page.screenshot(path=str(SHOTS / "recipes.png"), full_page=True)


def test_a_broken_field_shows_its_error_and_is_not_saved(page, served):
    from playwright.sync_api import expect

    page.locator("#recipe-new").click()
    expect(page.locator("#recipe-status")).to_contain_text("new recipe")
    type_into(page.locator("#field-name textarea"), "broken")
    open_section(page, "teacher")
    field = page.locator("#field-teacher-max_tokens")
    field.locator("input").fill("0")
    expect(field).to_have_class(re.compile(r"\bfield-error\b"))
    expect(field).to_contain_text("must be > 0")
    expect(page.locator("#recipe-problems")).to_contain_text("teacher.max_tokens: must be > 0 (line 4)")
    field.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "recipes-error.png"))
    page.locator("#recipe-save").click()
    expect(page.locator("#recipe-status")).to_contain_text("not saved")
    assert not (served["tmp"] / "recipes" / "broken.yaml").exists()

    field.locator("input").fill("64")
    expect(page.locator("#recipe-problems")).to_contain_text("valid recipe")
    expect(field).not_to_have_class(re.compile(r"\bfield-error\b"))
    set_yaml(page, "name: Bad Name\n")  # an error typed in the YAML shows at the form's field too
    expect(page.locator("#field-name")).to_have_class(re.compile(r"\bfield-error\b"))
    expect(page.locator("#field-name")).to_contain_text("must match")


def test_run_a_tiny_recipe_and_watch_it_to_the_end(page, served):
    from playwright.sync_api import expect

    four = served["tmp"] / "four.json"
    set_yaml(page, "name: tiny-browser\n"
                   f"trajectories: {{source: import, path: {four}, format: alpaca, task: hotpotqa}}\n"
                   "data: {correct_only: false}\n"
                   "student: {max_steps: 1, max_seq_length: 128, batch_size: 2}\n"
                   "evaluation:\n  sets: [{task: hotpotqa, split: eval250, n: 1}]\n"
                   "  max_steps: 1\n  few_shot_k: 0\n  max_tokens: 24\n")
    expect(page.locator("#recipe-problems")).to_contain_text("valid recipe")
    page.locator("#recipe-save").click()
    expect(page.locator("#recipe-status")).to_contain_text("saved tiny-browser")
    assert (served["tmp"] / "recipes" / "tiny-browser.yaml").exists()

    tab(page, "Runs")
    choose(page, "run-recipe", "tiny-browser")
    page.locator("#run-stages").get_by_label("all").check()
    page.locator("#run-start").click()
    expect(page.locator("#run-message")).to_have_text(re.compile(r"job \d+ (queued|started): "))  # until it ends
    progress = page.locator("#run-progress")
    expect(progress).to_contain_text("train", timeout=RUN_TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "runs-training.png"), full_page=True)
    expect(progress).to_contain_text(re.compile(r"— (done|failed|cancelled)"), timeout=RUN_TIMEOUT_MS)
    log = page.locator("#run-log textarea").input_value()
    assert "— done" in progress.inner_text(), log
    assert "generate: run" in log and "train: run" in log and "evaluate: run" in log
    expect(progress).to_contain_text("evaluate")
    expect(progress).to_contain_text("Dashboard: /dashboards/")
    expect(page.locator("#run-loss")).to_be_visible()
    result = page.locator("#run-result")  # each agent's EM where the run ends, never one blended figure
    expect(result).to_contain_text("Result of evaluate run")
    expect(result).to_contain_text(re.compile(r"prompted: EM \d+\.\d% \(95% interval [\d.]+–[\d.]+%, 1 question\)"))
    expect(result).to_contain_text(re.compile(r"finetuned: EM \d+\.\d% \(95% interval"))
    expect(result).to_contain_text("exact McNemar p =")
    expect(result.get_by_role("link", name="Compare them question by question")).to_be_visible()
    page.screenshot(path=str(SHOTS / "runs.png"), full_page=True)

    open_studio(page, served["url"] + "/")  # a reloaded page finds the job again
    tab(page, "Runs")
    expect(page.locator("#run-progress")).to_contain_text("tiny-browser — done")
    expect(page.locator("#run-recipe input")).to_have_value("tiny-browser")
    expect(page.locator("#run-jobs")).to_contain_text("tiny-browser")


def test_deep_link_opens_the_run(page, served):
    from playwright.sync_api import expect

    run_id = served["ids"]["train"]
    open_studio(page, f"{served['url']}/?run={run_id}")
    expect(page.get_by_role("tab", name="Runs")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#run-info")).to_contain_text(f"Run {run_id}: demo train")
    expect(page.locator("#run-info")).to_contain_text("4 training steps")
    expect(page.locator("#run-select input")).to_have_value(re.compile(rf"^{run_id} · demo train"))
    page.screenshot(path=str(SHOTS / "runs-deep-link.png"), full_page=True)


def test_dashboard_figures_and_share_link_in_a_fresh_context(page, browser, served):
    from playwright.sync_api import expect

    tab(page, "Dashboards")
    choose(page, "dash-runs", re.compile(rf"^{served['ids']['evaluate']} · demo evaluate"))
    page.locator("#dash-title").click()  # close the dropdown's list
    page.locator("#dash-show").click()
    expect(page.locator("#dash-figure-0 .js-plotly-plot")).to_be_visible()
    type_into(page.locator("#dash-title textarea"), "browser <i>share</i>")
    page.locator("#dash-share").click()
    link = page.locator("#dash-share-link")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href and re.fullmatch(r"/dashboards/[\w-]+", href)
    expect(page.locator("#dash-download")).to_be_visible()
    with page.expect_download() as download:
        page.locator("#dash-download").click()
    assert Path(download.value.path()).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    page.screenshot(path=str(SHOTS / "dashboards.png"), full_page=True)

    fresh = browser.new_context(viewport={"width": 1200, "height": 900})  # no cookies, no session
    try:
        shared = fresh.new_page()
        response = shared.goto(served["url"] + href)
        assert response is not None and response.status == 200
        expect(shared.locator("h1")).to_have_text("browser <i>share</i>")
        expect(shared.locator("#figure-0 .main-svg").first).to_be_visible()
        shared.screenshot(path=str(SHOTS / "dashboard-share.png"), full_page=True)
        missing = shared.goto(served["url"] + "/dashboards/not-a-dashboard")
        assert missing is not None and missing.status == 404
    finally:
        fresh.close()


def test_a_trajectory_holding_script_tags_renders_as_text(page, served):
    from playwright.sync_api import expect

    tab(page, "Trajectories")
    choose(page, "traj-run", re.compile(rf"^{served['ids']['evaluate']} · demo evaluate"))
    choose(page, "traj-agent", "prompted")
    expect(page.locator("#traj-count")).to_contain_text("2 episode(s)")
    cell = page.locator("#traj-table").get_by_text("<script>window.__pwned = 2</script> Who?").filter(visible=True)
    expect(cell.first).to_be_visible()
    cell.first.click()
    timeline = page.locator("#traj-timeline")
    expect(timeline.locator(".step-card")).to_have_count(2)
    expect(timeline).to_contain_text("try <script>window.__pwned = 1</script> here")
    expect(timeline).to_contain_text("search[<img src=x onerror=alert(1)>]")
    expect(timeline).to_contain_text("finish[<script>alert(2)</script>]")
    expect(timeline).to_contain_text("✗ wrong (gold: yes)")
    expect(page.locator("#traj-meta")).to_contain_text("wrong answer after tool calls")
    assert page.evaluate("window.__pwned") is None
    assert not page.evaluate("[...document.scripts].some(s => s.textContent.includes('__pwned'))")
    assert page.locator("#traj-table img, #traj-meta img, #traj-table script, #traj-timeline img, "
                        "#traj-timeline script").count() == 0
    page.screenshot(path=str(SHOTS / "trajectories.png"), full_page=True)


def test_two_agents_side_by_side_with_their_win_loss_table(page, served):
    from playwright.sync_api import expect

    run = served["ids"]["evaluate"]
    tab(page, "Trajectories")
    choose(page, "cmp-a", f"run {run} finetuned")
    choose(page, "cmp-b", f"run {run} prompted")
    page.locator("#cmp-go").click()
    summary = page.locator("#cmp-summary")
    expect(summary).to_contain_text("2 paired questions")
    expect(summary).to_contain_text("p = 0.5")
    page.locator("#cmp-table").get_by_text("Question 0?").filter(visible=True).first.click()  # A's wording of q0
    expect(page.locator("#cmp-lane-a")).to_contain_text("✓ right")
    expect(page.locator("#cmp-lane-b")).to_contain_text("✗ wrong")
    expect(page.locator("#cmp-lane-b .step-card")).to_have_count(2)
    assert page.locator("#cmp-lane-a script, #cmp-lane-b script, #cmp-lane-b img").count() == 0
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)


INJECTED = ("![pixel](http://127.0.0.1:9/pixel.png) [click](http://127.0.0.1:9/link) http://127.0.0.1:9/bare "
            "www.example.com me@example.com <img src=http://127.0.0.1:9/tag.png> **bold**")


def test_a_dashboard_title_carrying_links_and_images_shows_as_text(page, browser, served):
    """Markdown injection: a title with a Markdown image, a link, bare URLs and an <img> tag is shown as the
    text it is, in the studio and on the share page, and the browser fetches nothing it names."""
    from playwright.sync_api import expect

    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if ":9/" in r.url else None)
    tab(page, "Dashboards")
    choose(page, "dash-runs", re.compile(rf"^{served['ids']['evaluate']} · demo evaluate"))
    page.locator("#dash-title").click()
    type_into(page.locator("#dash-title textarea"), INJECTED)
    page.locator("#dash-share").click()
    link = page.locator("#dash-link")
    expect(page.locator("#dash-share-link")).to_be_visible()
    expect(link).to_contain_text(INJECTED)
    assert link.locator("img, strong").count() == 0
    assert link.locator("a").count() == 1  # the share link, nothing else
    href = page.locator("#dash-share-link").get_attribute("href")
    fresh = browser.new_context()
    try:
        shared = fresh.new_page()
        shared.on("request", lambda r: fetched.append(r.url) if ":9/" in r.url else None)
        shared.goto(served["url"] + href)
        expect(shared.locator("h1")).to_have_text(INJECTED)
        assert shared.locator("h1 img, h1 a").count() == 0
    finally:
        fresh.close()
    assert fetched == []


def test_the_rounds_of_a_recipe_as_a_timeline(page, served):
    from playwright.sync_api import expect

    tab(page, "Runs")
    choose(page, "run-recipe", "climb")
    page.locator("#rounds-panel").get_by_text("Self-improvement rounds").click()
    timeline = page.locator("#rounds-timeline")
    expect(timeline.locator(".round-card")).to_have_count(3)
    expect(timeline.locator("#round-1")).to_contain_text("1 of 4 attempts right, 1 kept")
    expect(timeline.locator("#round-1")).to_contain_text("EM 50.0")
    expect(timeline.locator("#round-2")).to_contain_text("not run yet")
    expect(page.locator("#rounds-em .js-plotly-plot")).to_be_visible()
    page.screenshot(path=str(SHOTS / "rounds.png"), full_page=True)
