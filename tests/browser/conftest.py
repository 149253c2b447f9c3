"""Fixtures of the browser tests, Debian Chromium driven by Playwright: `served`, the studio with its real job queue
over a seeded store (one per test module); `browser`, Chromium (one per module); `page`, a fresh page on the
studio that fails its test on any page error.

May import tests.support, `studio` and `storage` (inside fixtures), never a test module."""

from __future__ import annotations

import os

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, UI_TIMEOUT_MS, open_studio
from tests.support.seeds import seed_store


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The studio with its real job queue over a seeded store; runs and recipes in a temporary folder."""
    from storage import Store
    from studio.app.server import create_app, running

    tmp = tmp_path_factory.mktemp("browser")
    saved_env = os.environ.get("STUDIO_RUNS")
    os.environ["STUDIO_RUNS"] = str(tmp / "runs")
    try:
        with Store(tmp / "studio.duckdb") as store:
            ids = seed_store(store, tmp)
            app = create_app(store, recipes_dir=tmp / "recipes")
            with running(app) as url:
                yield {"url": url, "ids": ids, "tmp": tmp, "store": store, "studio": app.state.studio}
    finally:
        if saved_env is None:
            os.environ.pop("STUDIO_RUNS", None)
        else:
            os.environ["STUDIO_RUNS"] = saved_env


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run tests/run.sh, or `apt-get install -y chromium`", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, served):
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_studio(page, served["url"] + "/")
    yield page
    context.close()
    assert not errors, errors
