"""A page of another site cannot drive the studio from its user's browser: the studio served in this process
refuses foreign `Origin`s on the Gradio API and, bound to loopback, foreign `Host` names (DNS rebinding), while
gradio_client, curl-like clients and the studio's own page go on working."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

USER, PASSWORD = "alice", "secret"


def start(tmp: Path, host: str):
    """The studio with a login over an empty store, bound as if to `host` (served on 127.0.0.1)."""
    from storage import Store
    from studio.app.server import create_app, parse_auth, running

    with Store(tmp / "studio.duckdb") as store:
        app = create_app(store, auth=parse_auth(f"{USER}:{PASSWORD}"), recipes_dir=tmp / "recipes", host=host)
        with running(app) as url:
            yield {"url": url, "port": int(url.rsplit(":", 1)[1]), "store": store, "tmp": tmp}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from start(tmp_path_factory.mktemp("origin"), "127.0.0.1")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from start(tmp_path_factory.mktemp("lab"), "0.0.0.0")


@contextmanager
def logged_in(url: str) -> Iterator[httpx.Client]:
    """An HTTP client holding the login cookie, as the user's browser does."""
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/login", data={"username": USER, "password": PASSWORD}).raise_for_status()
        yield client


def save(client: httpx.Client, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Ask the Gradio API to save a recipe: `POST /gradio_api/call/save_recipe`."""
    return client.post("/gradio_api/call/save_recipe", json={"data": [f"name: {name}\n"]}, headers=headers or {})


def result(client: httpx.Client, event_id: str, headers: dict[str, str]) -> list:
    """The `complete` data of a call, read from its SSE stream `GET /gradio_api/call/save_recipe/{event_id}`."""
    with client.stream("GET", f"/gradio_api/call/save_recipe/{event_id}", headers=headers) as stream:
        assert stream.status_code == 200
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event in ("complete", "error"):
                assert event == "complete", line
                return json.loads(line.removeprefix("data: "))
    raise AssertionError("the call's stream ended without a result")


def saved(served: dict, name: str) -> bool:
    return (served["tmp"] / "recipes" / f"{name}.yaml").exists() or name in served["store"].list_recipes()


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}",
                                    "http://localhost.evil.example:{port}"])
def test_a_foreign_origin_is_refused_and_the_studios_own_is_not(served, origin):
    own = {"Origin": f"http://127.0.0.1:{served['port']}"}
    foreign = {"Origin": origin.format(port=served["port"])}
    name = "from-" + re.sub(r"[^a-z0-9]+", "-", foreign["Origin"]).strip("-")
    with logged_in(served["url"]) as client:
        refused = save(client, name + "-foreign", foreign)
        assert refused.status_code == 403 and "another site" in refused.text
        assert refused.headers["content-type"].startswith("text/plain")
        joined = client.post("/gradio_api/queue/join", headers=foreign,
                             json={"data": [f"name: {name}-foreign\n"], "fn_index": 0, "session_hash": "evil"})
        assert joined.status_code == 403
        assert client.get("/config", headers=foreign).status_code == 403

        accepted = save(client, name, own)  # what the studio's own page sends
        assert accepted.status_code == 200, accepted.text
        status, *_ = result(client, accepted.json()["event_id"], own)
    assert "saved" in status and saved(served, name)
    assert not saved(served, name + "-foreign")  # the refused call did nothing, though the queue works


def test_dns_rebinding_is_refused_loopback_names_are_not(served):
    port = served["port"]
    with logged_in(served["url"]) as client:
        rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        assert client.get("/", headers={"Host": f"evil.example:{port}"}).status_code == 403
        refused = save(client, "rebound", rebound)
        assert refused.status_code == 403 and "this machine only" in refused.text
        assert client.get("/dashboards/x", headers={"Host": "evil.example"}).status_code == 403
        assert client.get("/dashboards/x", headers={"Host": f"127.0.0.1.evil.example:{port}"}).status_code == 403
        for name in ("localhost", "127.0.0.1", "[::1]", "LOCALHOST"):
            host = f"{name}:{port}"
            assert client.get("/dashboards/x", headers={"Host": host}).status_code == 404  # served: no such one
            assert client.get("/config", headers={"Host": host, "Origin": f"http://{host}"}).status_code == 200
    assert not saved(served, "rebound")


def test_gradio_client_and_plain_clients_pass_where_a_foreign_page_does_not(served):
    from gradio_client import Client

    client = Client(served["url"] + "/", auth=(USER, PASSWORD), verbose=False)
    try:
        problems, *_ = client.predict("name: fine\n", api_name="/validate_recipe")
    finally:
        client.close()
    assert "valid recipe" in problems
    with logged_in(served["url"]) as plain:  # curl-like: no Origin
        assert plain.get("/config").status_code == 200
        assert plain.get("/config", headers={"Origin": "http://evil.example"}).status_code == 403


def test_on_a_lab_address_any_host_is_served_but_foreign_origins_are_not(lab):
    host = f"lab.example:{lab['port']}"
    with logged_in(lab["url"]) as client:
        assert client.get("/config", headers={"Host": host}).status_code == 200
        assert client.get("/config", headers={"Host": host, "Origin": f"http://{host}"}).status_code == 200
        assert save(client, "lab-evil", {"Host": host, "Origin": "http://evil.example"}).status_code == 403
    assert not saved(lab, "lab-evil")


def test_a_foreign_websocket_is_closed_before_it_opens():
    from studio.app.server import SameSiteOnly

    async def app(scope, receive, send):
        await send({"type": "websocket.accept"})

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    guard = SameSiteOnly(app, loopback=True)
    host = (b"host", b"127.0.0.1:7860")
    for headers in ([host, (b"origin", b"http://evil.example")], [(b"host", b"evil.example:7860")],
                    [host, (b"origin", b"http://127.0.0.1:7860")]):
        asyncio.run(guard({"type": "websocket", "scheme": "ws", "headers": headers}, None, send))
    assert [m["type"] for m in sent] == ["websocket.close", "websocket.close", "websocket.accept"]
