"""Small things of issue #25 in Chromium at 1400x1000: the Trajectories table fits the page with its headers on
one line (more columns on demand), a page past the last is clamped in the page box, the Playground shows only the
lanes of the chosen agents, and messages name an unknown recipe or run as missing, in plain text."""

from __future__ import annotations

import time

import pytest

from tests.support.browser import tab

pytestmark = pytest.mark.slow

QUESTION = ("What movie did actress Irene Jacob complete before the American action crime thriller film directed by "
            "Stuart Bird?")  # the first eval250 question

# How wide the table is against its box and the page, and on how many lines each header's text lies.
TABLE_LAYOUT = """() => {
  const lines = el => {
    const tops = new Set(), range = document.createRange();
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) {
      if (!node.textContent.trim()) continue;
      range.selectNodeContents(node);
      for (const rect of range.getClientRects()) tops.add(Math.round(rect.top));
    }
    return tops.size;
  };
  const table = document.querySelector('#traj-table table');
  const box = table.parentElement;
  return {page: document.documentElement.scrollWidth, table: table.scrollWidth, box: box.clientWidth,
          headers: [...table.querySelectorAll('thead th')].filter(th => th.innerText.trim())
                     .map(th => [th.innerText.trim(), lines(th)])};
}"""


def filtered(page) -> None:
    from playwright.sync_api import expect

    tab(page, "Trajectories")
    page.locator("#traj-filter").click()
    expect(page.locator("#traj-count")).to_contain_text("20 episode(s)")


def assert_fits(page, headers: list[str]) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#traj-table thead th").filter(has_text="question").first).to_be_visible()
    layout = page.evaluate(TABLE_LAYOUT)
    print("trajectory table layout:", layout)
    assert [h for h, _ in layout["headers"]] == headers
    assert layout["page"] <= 1400, f"the page scrolls sideways: {layout['page']} px"
    assert layout["table"] <= layout["box"] + 1, f"the table is {layout['table']} px in a {layout['box']} px box"
    assert all(n == 1 for _, n in layout["headers"]), f"headers broken over lines: {layout['headers']}"


def test_the_trajectory_table_fits_the_page_with_headers_on_one_line(page):
    from playwright.sync_api import expect

    filtered(page)
    assert_fits(page, ["run", "agent", "correct", "question", "prediction", "gold"])
    page.locator("#traj-more input").check()
    expect(page.locator("#traj-table thead th").filter(has_text="outcome").first).to_be_visible()
    assert_fits(page, ["run", "task", "method", "agent", "correct", "outcome", "steps", "question", "prediction",
                       "gold"])


def test_a_page_past_the_last_is_clamped_in_the_page_box(page):
    from playwright.sync_api import expect

    filtered(page)
    box = page.locator("#traj-page input")
    box.fill("99")
    count = page.locator("#traj-count")
    for _ in range(3):  # Enter can beat the box's value to the server on a loaded machine; submitting is idempotent
        box.press("Enter")
        try:
            expect(count).to_contain_text("there is no page 99", timeout=10_000)
            break
        except AssertionError:
            box.fill("99")
    expect(count).to_contain_text("there is no page 99: showing page 1")
    expect(box).to_have_value("1")


def test_a_typed_unknown_run_is_named_as_missing(page):
    from playwright.sync_api import expect

    tab(page, "Trajectories")
    page.locator("#traj-run input").fill("no-such's run")
    page.locator("#traj-filter").click()
    expect(page.locator("#traj-count")).to_have_text("⚠ there is no run no-such's run: pick one from the list")


def lane_widths(page) -> dict[str, float]:
    """Each playground lane's width as a share of the lanes' row; 0 for a hidden lane."""
    return page.evaluate("""() => {
      const row = document.querySelector('#play-lane-prompted, #play-lane-finetuned, #play-lane-teacher')
                    .closest('.row');
      const width = id => { const el = document.querySelector('#play-lane-' + id);
                            return el && el.offsetParent ? el.getBoundingClientRect().width / row.clientWidth : 0; };
      return {prompted: width('prompted'), finetuned: width('finetuned'), teacher: width('teacher')};
    }""")


def test_the_playground_shows_only_the_chosen_agents_lanes(page):
    from playwright.sync_api import expect

    tab(page, "Playground")
    expect(page.locator("#play-lane-teacher")).to_be_hidden()
    widths = lane_widths(page)
    assert widths["teacher"] == 0 and widths["prompted"] > 0.45 and widths["finetuned"] > 0.45, widths
    page.locator("#play-agents").get_by_label("teacher").check()
    expect(page.locator("#play-lane-teacher")).to_be_attached()
    page.locator("#play-agents").get_by_label("prompted").uncheck()
    expect(page.locator("#play-lane-prompted")).to_be_hidden()
    page.wait_for_function("() => document.querySelector('#play-lane-teacher')?.offsetParent")
    widths = lane_widths(page)
    assert widths["prompted"] == 0 and widths["finetuned"] > 0.45 and widths["teacher"] > 0.45, widths


def ask(page, recipe: str, question: str) -> None:
    page.locator("#play-recipe input").fill(recipe)
    page.keyboard.press("Enter")
    page.locator("#play-question textarea").fill(question)
    page.locator("#play-ask").click()


def test_playground_messages_are_plain_and_say_where_gold_comes_from(page, served):
    from playwright.sync_api import expect

    (served["tmp"] / "recipes").mkdir(exist_ok=True)
    (served["tmp"] / "recipes" / "gold-check.yaml").write_text("name: gold-check\nevaluation: {agents: [finetuned]}\n")
    tab(page, "Playground")
    page.locator("#play-agents").get_by_label("prompted").uncheck()  # the fine-tuned agent alone: no adapter yet,
    message = page.locator("#play-message")                            # so no model is loaded
    started = time.perf_counter()
    ask(page, "nope's", "Who wrote Hamlet?")
    expect(message).to_have_text("⚠ there is no recipe named nope's: pick one from the list")
    ask(page, "gold-check", QUESTION)
    expect(message).to_have_text("answered (gold answer from hotpotqa eval250)")
    expect(page.locator("#lane-finetuned .lane-error")).to_contain_text("has no trained adapter yet")
    ask(page, "gold-check", "What is the tallest tree in my garden?")
    expect(message).to_have_text("answered (no gold answer: not scored)")
    print(f"three playground messages in {time.perf_counter() - started:.1f} s")
