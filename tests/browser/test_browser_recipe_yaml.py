"""The recipe YAML in a real browser: what the user typed survives a form edit, sections the recipe does not use
are dimmed and say why, and a YAML syntax error leaves the form as it was under a banner naming the line."""

from __future__ import annotations

import re
import time

import pytest

from studio.paths import ROOT
from tests.support.browser import SHOTS, open_section, open_studio, set_yaml, yaml_text
from tests.support.yaml_edits import WRITTEN, changed_lines

pytestmark = pytest.mark.slow


def test_a_form_edit_keeps_the_comments_defaults_and_sections_typed_in_the_yaml(page, served):
    from playwright.sync_api import expect

    started = time.monotonic()
    open_studio(page, served["url"] + "/")
    print(f"page usable in {time.monotonic() - started:.1f} s")  # logged, never asserted
    set_yaml(page, WRITTEN)
    page.keyboard.press("Control+End")
    page.keyboard.type("tracking:\n  backend: none\n# typed by hand")  # an explicit default and a comment, typed
    typed = yaml_text(page)
    assert "backend: none" in typed and "# typed by hand" in typed
    expect(page.locator("#field-name textarea")).to_have_value("kept-demo")
    open_section(page, "student")
    field = page.locator("#field-student-max_steps input")
    expect(field).to_have_value("16")

    field.fill("32")
    expect(page.locator("#recipe-yaml")).to_contain_text("max_steps: 32")
    after = yaml_text(page)
    assert changed_lines(typed.rstrip(), after.rstrip()) == ["-  max_steps: 16", "+  max_steps: 32"]
    for kept in ("# my experiment: keep this comment", "correct_only: true   # explicit default, on purpose",
                 "# the evaluation, as the paper", "evaluation:", "few_shot_k: 3", "backend: none", "# typed by hand"):
        assert kept in after, kept
    page.screenshot(path=str(SHOTS / "recipes-yaml-kept.png"), full_page=True)


def test_sections_the_recipe_does_not_use_are_dimmed_and_follow_the_form(page):
    from playwright.sync_api import expect

    quickstart = (ROOT / "recipes" / "quickstart.yaml").read_text()
    set_yaml(page, quickstart)
    expect(page.locator("#field-name textarea")).to_have_value("quickstart")
    teacher = page.locator("#section-teacher")
    expect(teacher).to_have_class(re.compile(r"\bsection-unused\b"))
    expect(teacher).to_contain_text("not used: trajectories come from an import")
    expect(page.locator("#section-rounds")).to_contain_text("not used: rounds.count is 0")
    expect(page.locator("#section-evaluation")).not_to_contain_text("not used")
    expect(page.locator("#field-methods")).to_have_class(re.compile(r"\bfield-unused\b"))
    expect(page.locator("#field-methods")).to_contain_text("not used: trajectories come from an import")
    expect(page.locator("#field-trajectories-path")).not_to_have_class(re.compile(r"\bfield-unused\b"))
    page.screenshot(path=str(SHOTS / "recipes-unused.png"), full_page=True)

    page.locator("#field-trajectories-source input").click()
    page.get_by_role("option", name="generate", exact=True).click()
    expect(page.locator("#recipe-yaml")).to_contain_text("source: generate")
    assert changed_lines(quickstart.rstrip(), yaml_text(page).rstrip()) == ["-  source: import",
                                                                           "+  source: generate"]
    expect(teacher).not_to_have_class(re.compile(r"\bsection-unused\b"))
    expect(teacher).not_to_contain_text("not used")
    expect(page.locator("#field-methods")).not_to_have_class(re.compile(r"\bfield-unused\b"))
    expect(page.locator("#field-trajectories-path")).to_have_class(re.compile(r"\bfield-unused\b"))


def test_a_yaml_syntax_error_shows_its_line_and_keeps_the_last_form(page):
    from playwright.sync_api import expect

    set_yaml(page, "name: last-good\nstudent:\n  max_steps: 5\n")
    expect(page.locator("#field-name textarea")).to_have_value("last-good")
    banner = page.locator("#recipe-form-state")
    expect(banner).to_be_hidden()
    page.keyboard.press("Control+End")
    page.keyboard.type("teacher: a: b")  # no brackets or quotes: the editor would close them
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(re.compile(r"The YAML does not parse \(line \d+\): the form shows the last version"))
    expect(page.locator("#recipe-problems")).to_contain_text("YAML syntax error")
    expect(page.locator("#field-name textarea")).to_have_value("last-good")  # not "x", not emptied
    open_section(page, "student")
    field = page.locator("#field-student-max_steps input")
    expect(field).to_have_value("5")
    page.screenshot(path=str(SHOTS / "recipes-yaml-error.png"), full_page=True)

    field.fill("9")  # a form edit while the YAML does not parse leaves the user's text alone
    expect(banner).to_contain_text("form edits wait")
    assert "teacher: a: b" in yaml_text(page) and "max_steps: 9" not in yaml_text(page)
    page.locator("#recipe-yaml .cm-content").click()  # in the editor again
    page.keyboard.press("Control+End")
    for _ in ": b":
        page.keyboard.press("Backspace")
    expect(banner).to_be_hidden()
    expect(field).to_have_value("5")  # the form follows the fixed text again


def test_status_lines_follow_the_editor_after_clone_rename_and_new(page):
    """"cloned as X (not saved yet)" turns into what is edited now once the name changes; after Clone and New the
    saved-recipes list no longer shows the recipe the editor stopped holding (#35)."""
    from playwright.sync_api import expect

    status, picked = page.locator("#recipe-status"), page.locator("#recipe-list input")
    expect(picked).to_have_value("quickstart")
    page.locator("#recipe-clone").click()
    expect(status).to_have_text("cloned as quickstart-copy (not saved yet)")
    expect(picked).to_have_value("")
    name = page.locator("#field-name textarea")
    name.fill("my-experiment")
    name.blur()
    expect(status).to_have_text("editing my-experiment (not saved yet)")
    assert "name: my-experiment" in yaml_text(page)
    page.locator("#recipe-list input").click()
    page.get_by_role("option", name="quickstart", exact=True).click()
    page.locator("#recipe-open").click()
    expect(status).to_have_text("opened quickstart")
    expect(picked).to_have_value("quickstart")
    page.locator("#recipe-new").click()
    expect(status).to_have_text("new recipe (not saved yet)")
    expect(picked).to_have_value("")
