"""The studio's web server: FastAPI with the read-only dashboard routes, and the Gradio UI mounted at `/`.

Routes:
- `/` – the Gradio studio (behind the login when `auth` is set).
- `GET /dashboards/{id}` – a saved dashboard snapshot as one self-contained HTML page (plotly.js inlined);
  `GET /dashboards/{id}.html` – the same file as a download. Unknown ids answer 404.

The dashboard routes are deliberately public and read-only, even with login on: a dashboard is made to be
shared (the "Share" button gives its link), the id is an unguessable random token, and a snapshot holds
only figures, scores and sample episodes, never the recipe itself or any secret (recipes name
environment variables for keys, never keys). Everything else needs the login when one is configured.

Every route answers only the studio's own pages and clients that send no `Origin` (gradio_client, curl): a page
of another site, in the browser of someone who can reach the studio, is refused (`SameSiteOnly`).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

    from storage import Store

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]"}  # as a Host header writes them
HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?")  # name[:port]; `_`: docker service names
ORIGIN = re.compile(r"(https?)://(.*)")
DEFAULT_PORTS = {"http": 80, "https": 443}
# The dashboard page runs only its own inline scripts and styles and fetches nothing.
DASHBOARD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`user:password` -> (user, password); None or empty -> no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must be USER:PASSWORD (both non-empty)")
    return user, password


def _address(scheme: str, host: str) -> tuple[str, str, int] | None:
    """(scheme, name, port) of `name[:port]`, the port defaulted from the scheme; None when it is no address."""
    found = HOST.fullmatch(host.lower())
    if found is None:
        return None
    return scheme, found[1], int(found[2]) if found[2] else DEFAULT_PORTS[scheme]


class SameSiteOnly:
    """Refuses (403) what a page of another site could send from its user's browser: a request whose `Origin`
    is not the studio's own, and, when the studio listens on loopback only, one whose `Host` is not a loopback
    name (DNS rebinding gives a foreign name the studio's address, so its Origin matches its Host). Requests
    without an Origin (gradio_client, curl, the page's own GETs) pass. Pure ASGI, so the queue's SSE streams
    and websockets are guarded too."""

    def __init__(self, app: ASGIApp, loopback: bool) -> None:
        self.app, self.loopback = app, loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        why = self.refusal(scope) if scope["type"] in ("http", "websocket") else None
        if why is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
        else:
            await PlainTextResponse(why, status_code=403, headers={"X-Content-Type-Options": "nosniff"})(
                scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        """Why the request is refused, or None."""
        headers = Headers(scope=scope)
        scheme = "https" if scope["scheme"] in ("https", "wss") else "http"
        own = _address(scheme, headers.get("host", ""))
        if self.loopback and (own is None or own[1] not in LOOPBACK_NAMES):
            return ("refused: this studio listens on this machine only; open it at http://127.0.0.1:PORT or "
                    "http://localhost:PORT, not under another name\n")
        origin = headers.get("origin")
        if origin is None:
            return None
        found = ORIGIN.fullmatch(origin.lower())  # `null` (a sandboxed or local page) does not match
        if own is None or found is None or _address(found[1], found[2]) != own:
            return "refused: the request comes from a page of another site; the studio answers only its own pages\n"
        return None


def _not_found(dashboard_id: str) -> str:
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>No such dashboard</title></head>"
            f"<body style=\"font-family:system-ui,sans-serif;margin:2rem\"><h1>No such dashboard</h1>"
            f"<p>There is no dashboard <code>{html.escape(dashboard_id)}</code> in this studio.</p></body></html>")


def create_app(store: Store, auth: tuple[str, str] | None = None, recipes_dir: str | Path | None = None,
               host: str = "127.0.0.1", port: int = 7860, jobs=None) -> FastAPI:
    """The studio as an ASGI app over an open store (this process owns it). `recipes_dir` is where Save writes
    (default: `STUDIO_RECIPES`, else recipes/ beside the database); `jobs` is a JobQueue (default: a new one)."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, Response

    from studio.app.jobs import JobQueue
    from studio.app.ui import CSS, create_ui, theme
    from studio.app.uploads import MAX_BYTES
    from studio.app.views.state import Studio
    from studio.app.views.state import recipes_dir as resolve_recipes_dir
    from studio.results.share_page import render_html

    studio = Studio(store, resolve_recipes_dir(recipes_dir, store.path), jobs or JobQueue(store))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        studio.jobs.shutdown()  # a training worker must not outlive the studio
        shutil.rmtree(studio.tmp_dir, ignore_errors=True)

    app = FastAPI(title="FireAct Studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio
    app.add_middleware(SameSiteOnly, loopback=host in LOCAL_HOSTS)

    def page(dashboard_id: str) -> str | None:
        found = store.get_dashboard(dashboard_id)
        return render_html(found["spec"]) if found else None

    # `{id}.html` first: the plain route would otherwise take "abc.html" as an id.
    @app.get("/dashboards/{dashboard_id}.html", include_in_schema=False)
    def dashboard_file(dashboard_id: str) -> Response:
        body = page(dashboard_id)
        if body is None:
            return HTMLResponse(_not_found(dashboard_id), status_code=404)
        safe = "".join(c for c in dashboard_id if c.isalnum() or c in "-_")
        headers = DASHBOARD_HEADERS | {"Content-Disposition": f'attachment; filename="dashboard-{safe}.html"'}
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    @app.get("/dashboards/{dashboard_id}", include_in_schema=False)
    def dashboard_page(dashboard_id: str) -> Response:
        body = page(dashboard_id)
        if body is None:
            return HTMLResponse(_not_found(dashboard_id), status_code=404)
        return HTMLResponse(body, headers=DASHBOARD_HEADERS)

    demo = create_ui(studio)
    demo.queue(default_concurrency_limit=4)
    return gr.mount_gradio_app(
        app, demo, path="/", server_name=host, server_port=port, auth=auth,
        auth_message="FireAct Studio: log in with the user and password given to --auth.",
        footer_links=["api", "settings"], run_history=False, theme=theme(), css=CSS, ssr_mode=False,
        max_file_size=MAX_BYTES,  # refused at the upload route, before it fills the disk
    )


def serve(host: str = "127.0.0.1", port: int = 7860, db: str | Path | None = None,
          auth: str | None = None) -> int:
    """Run the studio with uvicorn until interrupted. `auth` is `user:password` (else `STUDIO_AUTH`)."""
    auth = auth if auth is not None else os.environ.get("STUDIO_AUTH")
    try:
        credentials = parse_auth(auth)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if host not in LOCAL_HOSTS and credentials is None:
        print(f"warning: the studio listens on {host}, reachable from other machines, with no login; "
              "pass --auth USER:PASSWORD (or set STUDIO_AUTH) to require one", file=sys.stderr)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import uvicorn

    from storage import Store, StoreError
    from studio.paths import default_db

    try:
        store = Store(db or default_db())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with store:
        app = create_app(store, auth=credentials, host=host, port=port)
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        print(f"FireAct Studio: http://{shown}:{port}  (database {store.path}"
              + (", login required)" if credentials else ")"), flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


@contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 60.0) -> Iterator[str]:
    """Serve `app` with uvicorn in a background thread (tests, notebooks); yields its base URL. Port 0: a free one."""
    import socket
    import threading
    import time

    import uvicorn

    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="studio-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the studio did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
