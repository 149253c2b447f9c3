"""A share link opened in Chromium by someone without the studio: at 1200 and 800 px the page never scrolls
sideways, shows no Markdown backticks, points to no studio tab or local file, keeps its point labels inside
the plots, and shows right and wrong sample episodes of each agent (issue #25)."""

from __future__ import annotations

import re

import pytest

from tests.support.browser import SHOTS, UI_TIMEOUT_MS
from tests.support.seeds import evaluated

pytestmark = pytest.mark.slow

WIDTHS = (1200, 800)
# Every point label's box against its plot area's, as the browser laid them out.
LABELS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {
  const area = plot.querySelector('.nsewdrag').getBoundingClientRect();
  return [...plot.querySelectorAll('.scatterlayer .textpoint text')].map(t => {
    const b = t.getBoundingClientRect();
    return {text: t.textContent, inside: b.left >= area.left - 1 && b.right <= area.right + 1
                                         && b.top >= area.top - 1 && b.bottom <= area.bottom + 1};
  });
})"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The studio over a store with two dashboards: one of agents that cost and took time (right and wrong
    answers of both, the first ones all right for one agent), one of agents that cost nothing."""
    from storage import Store
    from studio.app.server import create_app, running
    from studio.results.dashboards import save_dashboard

    tmp = tmp_path_factory.mktemp("share")
    with Store(tmp / "studio.duckdb") as store:
        billed = evaluated(store, {"cost": 0.002, "compute_s": 1.54}, {"cost": 0.0035, "compute_s": 1.59},
                           right=(True,) * 4 + (False,) * 3)
        train = store.create_run("demo train", "train", None, "demo")
        for step, loss in enumerate([2.5, 2.1, 1.8], start=1):
            store.add_train_metric(train, step, loss=loss)
        store.set_run_status(train, "done")
        free = evaluated(store, {"compute_s": 0.5}, {"compute_s": 0.7})
        ids = {"billed": save_dashboard(store, [billed, train], "billed agents"),
               "free": save_dashboard(store, [free], "local agents")}
        with running(create_app(store, recipes_dir=tmp / "recipes")) as url:
            yield {"url": url, "ids": ids}


def open_shared(browser, url: str, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900})  # no cookies, no session
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    response = page.goto(url)
    assert response is not None and response.status == 200
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
    return context, page


def titles_of(page) -> list[str]:
    """The figures' titles (SVG text, which has no inner text)."""
    return page.eval_on_selector_all(".gtitle", "els => els.map(e => e.textContent)")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_share_page_stands_on_its_own(browser, served, width):
    from playwright.sync_api import expect

    context, page = open_shared(browser, f"{served['url']}/dashboards/{served['ids']['billed']}", width)
    try:
        expect(page.locator("h1")).to_have_text("billed agents")
        page.wait_for_timeout(500)  # plotly lays out the responsive figures after the first frame
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), page.evaluate(
            "[document.documentElement.scrollWidth, innerWidth]")
        text = page.locator("body").inner_text()
        assert "`" not in text
        assert not re.search(r"\b(Trajectories|Runs|Playground|Export|Dashboards) tab\b|README|artifacts/", text)
        titles = titles_of(page)
        assert "EM against cost" in titles and "EM against time" in titles
        labels = page.evaluate(LABELS_JS)
        assert len(labels) >= 4 and all(label["inside"] for label in labels), labels
        for agent in ("finetuned", "prompted"):
            for verdict in ("right", "wrong"):
                assert page.locator(f"details.{verdict} summary", has_text=f"{agent} · ").count() >= 1, (agent,
                                                                                                          verdict)
        page.screenshot(path=str(SHOTS / f"dashboard-share-{width}.png"), full_page=True)
    finally:
        context.close()


def test_a_dashboard_of_free_agents_says_so_instead_of_a_cost_figure(browser, served):
    from playwright.sync_api import expect

    context, page = open_shared(browser, f"{served['url']}/dashboards/{served['ids']['free']}", 800)
    try:
        expect(page.locator("p.note").first).to_contain_text("No run billed anything: every agent ran locally")
        titles = titles_of(page)
        assert "EM against cost" not in titles and "EM against time" in titles
        time_axis = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="EM against time"))
        assert time_axis.locator(".xtick text").first.text_content() == "0"
        page.screenshot(path=str(SHOTS / "dashboard-share-free.png"), full_page=True)
    finally:
        context.close()
