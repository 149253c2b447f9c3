"""The playground in Chromium: one question, the prompted and the fine-tuned agent side by side on a real engine,
their steps streamed into their lanes (the same through gradio_client: tests/app/test_playground.py)."""

from __future__ import annotations

import pytest

from tests.support.browser import CHROMIUM_ARGS, SHOTS, open_studio
from tests.support.questions import GOLD, QUESTION

pytestmark = pytest.mark.slow


def test_playground_in_chromium(studio_with_agent):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        open_studio(page, studio_with_agent["url"] + "/")
        page.get_by_role("tab", name="Playground").click()
        page.locator("#play-recipe input").fill("tiny-agent")
        page.keyboard.press("Enter")
        page.locator("#play-question textarea").fill(QUESTION)
        page.locator("#play-engine input").fill("llama.cpp")
        page.keyboard.press("Enter")
        page.locator("#play-ask").click()
        expect(page.locator("#lane-prompted .lane-answer")).to_contain_text(f"gold: {GOLD}",
                                                                          timeout=300_000)
        expect(page.locator("#lane-finetuned .lane-answer")).to_contain_text("Answer", timeout=300_000)
        expect(page.locator("#lane-finetuned .step-card").first).to_contain_text("Action")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "playground.png"), full_page=True)
        browser.close()
