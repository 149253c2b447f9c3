"""Driving the studio's page in Debian Chromium with Playwright: where Chromium is and how it starts, the UI's
time limit, where screenshots go, and the moves a test makes on the page (open the studio, a tab, a section,
a dropdown's option; type the recipe YAML)."""

from __future__ import annotations

import re
from pathlib import Path

from studio.paths import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "artifacts" / "screenshots"
UI_TIMEOUT_MS = 30_000


def open_studio(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#recipe-yaml .cm-content")
    page.wait_for_function("() => !document.querySelector('.pending')", timeout=UI_TIMEOUT_MS)


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def open_section(page, section: str) -> None:
    """Open a closed accordion of the recipe form (its fields are rendered once it is open)."""
    box = page.locator(f"#section-{section}")
    if not box.locator(f"#field-{section}-" + {"teacher": "model", "student": "model"}.get(section, "")).count():
        box.get_by_text(f"{section} — ").first.click()


def set_yaml(page, text: str) -> None:
    editor = page.locator("#recipe-yaml .cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def yaml_text(page) -> str:
    return page.locator("#recipe-yaml .cm-content").inner_text()


def type_into(textbox, text: str) -> None:
    """Replace a Textbox's text by typing it: Gradio sends a textbox's `input` event on key presses."""
    textbox.fill("")
    textbox.press_sequentially(text)


def choose(page, dropdown_id: str, option: str | re.Pattern) -> None:
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=option).first.click()
