"""Where a run ends, in a real browser (Chromium): the result block with its links, every tab's lists following
the job queue, the log box on its newest lines, the Runs tab keeping its recipe after a reload. The job runs
the EvaluatingRunner of tests/support/seeds.py (real store, real UI, no models)."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.browser import SHOTS, UI_TIMEOUT_MS, choose, open_studio, tab
from tests.support.seeds import EvaluatingRunner, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("browser-results"), EvaluatingRunner(steps=3, delay=0.4), True) as found:
        yield found


@pytest.fixture
def page(browser, served):
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    started = time.perf_counter()
    open_studio(page, served["url"] + "/")
    print(f"\npage usable after {time.perf_counter() - started:.2f} s")  # logged, never asserted
    yield page
    context.close()
    assert not errors, errors


def log_at_its_end(page) -> bool:
    """Whether the log box shows its last line (and has more lines than it shows, so the check means something)."""
    return page.evaluate("""() => {
        const log = document.querySelector('#run-log textarea');
        return log.scrollHeight > log.clientHeight + 20 && log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    }""")


def wait_for_option(page, dropdown_id: str, option: str | re.Pattern) -> None:
    """Open the dropdown until it lists the option (the lists refresh on the job queue's changes), then close it."""
    from playwright.sync_api import expect

    box = page.locator(f"#{dropdown_id} input")
    for _ in range(30):
        box.click()
        found = page.get_by_role("option", name=option).count()
        page.keyboard.press("Escape")
        box.blur()  # a dropdown left focused does not open again on a click
        if found:
            return
        page.wait_for_timeout(500)
    page.locator(f"#{dropdown_id} input").click()
    expect(page.get_by_role("option", name=option).first).to_be_visible()  # fails, naming what is missing


def test_a_finished_job_shows_its_result_and_every_tab_follows(page, served):
    from playwright.sync_api import expect

    url = served["url"]
    tab(page, "Trajectories")  # lists filled when the page loaded, before the job
    tab(page, "Runs")
    choose(page, "run-recipe", "judged")
    page.locator("#run-stages").get_by_label("all").check()
    page.locator("#run-start").click()
    expect(page.locator("#run-message")).to_have_text(re.compile(r"job \d+ (queued|started): "))  # until it ends
    job = served["studio"].jobs.current()
    tab(page, "Trajectories")  # the job ends while the user reads another tab: its lists follow all the same
    served["studio"].jobs.wait(job, 60)
    runs = served["studio"].jobs.get(job)["run_ids"]
    run, train = runs["evaluate"], runs["train"]
    wait_for_option(page, "traj-run", re.compile(rf"^{run} · judged evaluate \(evaluate, done\)"))
    wait_for_option(page, "traj-run", re.compile(rf"^{train} · judged train \(train, done\)"))
    wait_for_option(page, "cmp-a", f"run {run} prompted")
    tab(page, "Dashboards")
    wait_for_option(page, "dash-runs", re.compile(rf"^{run} · judged evaluate"))
    tab(page, "Runs")
    result = page.locator("#run-result")
    expect(result).to_contain_text("Result of evaluate run")
    expect(result).to_contain_text("prompted: EM 10.0% (95% interval 1.8–40.4%, 10 questions)")
    expect(result).to_contain_text("finetuned: EM 70.0% (95% interval 39.7–89.2%, 10 questions)")
    expect(result).to_contain_text("fine-tuned − prompted: +60.0 points on 10 paired questions")
    expect(result).to_contain_text("exact McNemar p = 0.0312: the difference is unlikely to be chance")
    expect(page.locator("#run-progress")).to_contain_text("— done")
    expect(page.locator("#run-message")).to_have_text("")  # "job N started" went with its job (#35)
    evaluate_line = next(line for line in page.locator("#run-progress").inner_text().splitlines()
                         if line.startswith("evaluate"))
    assert "correct" not in evaluate_line  # the teacher's right answers, yes; two agents' added up, no
    row = page.locator("#run-table").get_by_text("prompted 10.0 · finetuned 70.0").filter(visible=True)
    expect(row.first).to_be_visible()
    page.wait_for_function("() => document.querySelector('#run-log textarea').value.includes('done')")
    page.wait_for_timeout(300)
    assert log_at_its_end(page), "the log box does not open on its newest lines"
    page.screenshot(path=str(SHOTS / "runs-result.png"), full_page=True)


    links = {a.inner_text(): a.get_attribute("href") for a in result.locator("a").all()}
    assert links == {"Compare them question by question": f"?compare={run}%7Cprompted%2C{run}%7Cfinetuned",
                     "Ask them in the Playground": "?playground=judged",
                     "Export the fine-tuned agent": "?export=judged"}, links

    open_studio(page, url + "/" + links["Compare them question by question"])
    expect(page.get_by_role("tab", name="Trajectories")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#cmp-a input")).to_have_value(f"run {run} prompted")
    expect(page.locator("#cmp-b input")).to_have_value(f"run {run} finetuned")
    expect(page.locator("#cmp-summary")).to_contain_text("10 paired questions")
    page.screenshot(path=str(SHOTS / "compare-deep-link.png"), full_page=True)

    open_studio(page, url + "/" + links["Ask them in the Playground"])
    expect(page.get_by_role("tab", name="Playground")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#play-recipe input")).to_have_value("judged")

    open_studio(page, url + "/" + links["Export the fine-tuned agent"])
    expect(page.get_by_role("tab", name="Runs")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#export-format")).to_be_visible()
    expect(page.locator("#run-recipe input")).to_have_value("judged")

    open_studio(page, url + "/")  # a plain reload: the Runs tab on the last job and its recipe, log at its end
    tab(page, "Runs")
    expect(page.locator("#run-recipe input")).to_have_value("judged")
    expect(page.locator("#run-result")).to_contain_text("Result of evaluate run")
    page.wait_for_function("() => document.querySelector('#run-log textarea').value.includes('done')")
    page.wait_for_timeout(300)
    assert log_at_its_end(page), "the log box opens scrolled to its start"

    page.locator("#run-start").click()  # the same recipe again, watched on the Runs tab
    expect(page.locator("#run-message")).to_have_text(re.compile(r"job \d+ (queued|started): "))  # until it ends
    again = served["studio"].jobs.current()
    expect(page.locator("#run-progress")).to_contain_text(f"Job {again}: judged — done", timeout=60_000)
    page.wait_for_function("() => /\\d done$/.test(document.querySelector('#run-log textarea').value.trim())")
    page.wait_for_timeout(300)
    assert log_at_its_end(page), "the log box does not show its newest lines while it updates"


def test_lists_follow_the_job_queue_in_a_page_that_never_opened_runs(page, served):
    """A job started elsewhere (another page, the CLI's queue) while this page stays on Recipes: Trajectories and
    Dashboards list its run all the same, with no reload and without the Runs tab ever opened."""
    from studio.app.views import recipes as recipe_views

    studio = served["studio"]
    job = studio.jobs.submit(recipe_views.load_or_problem(studio, "judged"), ("evaluate",))
    studio.jobs.wait(job, 60)
    run = studio.jobs.get(job)["run_ids"]["evaluate"]
    tab(page, "Trajectories")
    wait_for_option(page, "traj-run", re.compile(rf"^{run} · judged evaluate \(evaluate, done\)"))
    tab(page, "Dashboards")
    wait_for_option(page, "dash-runs", re.compile(rf"^{run} · judged evaluate"))


def test_an_unknown_recipe_reads_plainly(page):
    from playwright.sync_api import expect

    tab(page, "Runs")
    page.locator("#run-recipe input").fill("x")
    page.locator("#run-start").click()
    message = page.locator("#run-message")
    expect(message).to_have_text("⚠ no recipe named x: save it in the Recipes tab first")
    assert "&#x27;" not in message.inner_text() and "not valid" not in message.inner_text()
