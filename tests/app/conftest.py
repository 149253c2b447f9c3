"""Fixtures of the app tests, which drive the studio served in this process through gradio_client and its HTTP
routes: `served`, the studio over a seeded store with a fake job runner (one per test module, as each module
may change its store).

May import tests.support, `studio` and `storage` (inside fixtures), never a test module."""

from __future__ import annotations

import pytest

from tests.support.seeds import FakeRunner, seed_store


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The studio on a free port over a seeded store, a fake job runner, and a temporary recipes folder."""
    from gradio_client import Client

    from storage import Store
    from studio.app.jobs import JobQueue
    from studio.app.server import create_app, running

    tmp = tmp_path_factory.mktemp("studio")
    with Store(tmp / "studio.duckdb") as store:
        ids = seed_store(store, tmp)
        runner = FakeRunner()
        app = create_app(store, recipes_dir=tmp / "recipes", jobs=JobQueue(store, runner, make_dashboard=False))
        with running(app) as url:
            client = Client(url + "/", verbose=False, download_files=str(tmp / "downloads"))
            yield {"url": url, "client": client, "store": store, "ids": ids, "tmp": tmp, "runner": runner,
                   "studio": app.state.studio}
            client.close()
