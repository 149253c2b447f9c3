"""Agents with MCP tools in a real browser (#26): the Recipes tab's Check tools lists what a recipe's `mcp:`
server offers, and a stored tool call reads as a tool card in the Trajectories tab."""

from __future__ import annotations

import re

import pytest

from tests.support.browser import SHOTS, choose, open_studio, set_yaml, tab

pytestmark = pytest.mark.slow


def seed_calculator_run(store) -> int:
    """An evaluate run whose agents had the calculator: one episode with a call, a tool error and an answer."""
    from studio.trajectories.episode import Episode, Step

    listing = [{"name": "calculate", "description": "arithmetic", "server": "calculator", "version": None,
                "input_schema": {"properties": {"expression": {"type": "string"}}, "required": ["expression"]}}]
    run = store.create_run("calc evaluate", "evaluate", {"name": "calc"}, "calc", tools=listing)
    steps = [Step("Multiply first.", "calculate", '{"expression": "12 * <b>7</b>"}', "invalid syntax", "tool error"),
             Step("Without the tags.", "calculate", "12 * 7", "84"), Step("", "finish", "84")]
    store.add_episodes(run, [Episode(task="arithmetic", question_id="m1", question="What is 12 times 7?",
                                     method="react", agent="prompted", gold="84", steps=steps, prediction="84",
                                     correct=True, finished=True)])
    store.set_run_status(run, "done")
    return run


def test_check_tools_lists_the_calculator_and_a_tool_call_reads_as_a_card(page, served, monkeypatch):
    from playwright.sync_api import expect

    monkeypatch.delenv("STUDIO_MCP_CONFIG", raising=False)  # the built-in servers only

    set_yaml(page, "name: calc-tools\ntools: [{mcp: calculator}]\n")
    expect(page.locator("#recipe-problems")).to_contain_text("valid recipe")
    page.locator("#recipe-check-tools").click()
    found = page.locator("#recipe-tools")
    expect(found).to_contain_text("tools[0] mcp calculator: ✓ 1 tool")
    expect(found.locator("code", has_text=re.compile(r"^calculate$"))).to_be_visible()
    expect(found).to_contain_text("Servers a recipe can name (mcp: NAME): calculator, search")
    page.screenshot(path=str(SHOTS / "recipes-tools-check.png"), full_page=True)

    run = seed_calculator_run(served["store"])
    open_studio(page, served["url"] + "/")  # a fresh page: its run list holds the new run
    tab(page, "Trajectories")
    choose(page, "traj-run", re.compile(rf"^{run} · calc evaluate"))
    expect(page.locator("#traj-count")).to_contain_text("1 episode")
    page.locator("#traj-table").get_by_text("What is 12 times 7?").filter(visible=True).first.click()
    cards = page.locator("#traj-timeline .tool-card")
    expect(cards).to_have_count(2)
    expect(cards.first.locator(".tool-name")).to_have_text("calculate")
    expect(cards.first.locator(".tool-badge")).to_have_text("tool error")
    expect(cards.first.locator(".tool-args")).to_have_text('{\n  "expression": "12 * <b>7</b>"\n}')
    expect(cards.nth(1).locator(".tool-args")).to_have_text('{\n  "expression": "12 * 7"\n}')
    expect(cards.nth(1)).to_contain_text("Observation 84")
    expect(cards.nth(1).locator(".tool-badge")).to_have_count(0)
    assert page.locator("#traj-timeline b:text-is('7')").count() == 0  # the agent's tags stay text
    page.screenshot(path=str(SHOTS / "trajectories-tool-card.png"), full_page=True)


def test_a_tools_format_episode_reads_as_cards_with_its_raw_chat_here_and_on_the_share_page(page, served):
    """A native-tool-calling episode (#27): marked `format: tools`, its calls as cards, its raw chat folded until
    opened, in the Trajectories tab and on a dashboard's share page alike."""
    from playwright.sync_api import expect

    from studio.results.dashboards import save_dashboard
    from tests.support.seeds import TOOLS_QUESTION, seed_tools_run

    run, _, _ = seed_tools_run(served["store"])
    open_studio(page, served["url"] + "/")
    tab(page, "Trajectories")
    choose(page, "traj-run", re.compile(rf"^{run} · calc-tools evaluate"))
    expect(page.locator("#traj-count")).to_contain_text("2 episode")
    page.locator("#traj-table").get_by_text("teacher").filter(visible=True).first.click()
    lane = page.locator("#traj-timeline .lane")
    expect(lane.locator(".format-marker")).to_have_text("format: tools")
    cards = lane.locator(".tool-card")
    expect(cards).to_have_count(3)
    expect(cards.nth(1).locator(".tool-args")).to_have_text('{\n  "expression": "3 * 4"\n}')
    expect(cards.nth(2).locator(".tool-badge")).to_have_text("invalid call")
    messages = lane.locator(".raw-chat .raw-messages")
    expect(messages).to_be_hidden()
    lane.locator(".raw-chat summary").click()
    expect(messages).to_be_visible()
    expect(messages).to_contain_text('"tool_call_id": "call_0b"')
    expect(lane.locator(".raw-chat .raw-tools")).to_contain_text('"name": "calculate"')
    page.screenshot(path=str(SHOTS / "trajectories-tools-format.png"), full_page=True)

    page.goto(f"{served['url']}/dashboards/{save_dashboard(served['store'], [run])}")
    sample = page.locator("details.right", has_text=TOOLS_QUESTION)
    sample.locator("summary").first.click()
    expect(sample.locator(".format-marker")).to_be_visible()
    expect(sample.locator(".tool-card")).to_have_count(3)
    sample.locator(".raw-chat summary").click()
    expect(sample.locator(".raw-messages")).to_contain_text('"role": "tool"')
