"""The Dashboards tab's views: the saved snapshots, one as a self-contained HTML file to download, the share
link's address and the notes that point to the studio's other tabs.

Imports the results' share page; the figures come with the snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.app.views.state import Studio


def dashboards_rows(studio: Studio) -> list[list[Any]]:
    rows = studio.store.list_dashboards()
    return [[d["id"], d["title"], ", ".join(map(str, d["run_ids"] or [])), str(d["created_at"])[:19]] for d in rows]


def dashboard_file(studio: Studio, dashboard_id: str) -> Path:
    """The dashboard as one self-contained HTML file in the studio's temporary folder (for a download)."""
    from studio.results.share_page import render_html

    found = studio.store.get_dashboard(dashboard_id)
    if found is None:
        raise KeyError(f"no dashboard {dashboard_id!r}")
    path = studio.tmp_dir / f"dashboard-{dashboard_id}.html"
    path.write_text(render_html(found["spec"]), encoding="utf-8")
    return path


def base_url(request: Any) -> str:
    """This server's address as the browser reached it (for absolute share links), from a `gr.Request`'s
    headers; "" without one."""
    if request is None:
        return ""
    headers = request.headers
    host = headers.get("x-forwarded-host") or headers.get("host") or ""
    scheme = headers.get("x-forwarded-proto") or ("https" if str(headers.get("origin", "")).startswith("https")
                                                 else "http")
    return f"{scheme}://{host}" if host else ""


def studio_notes(spec: dict[str, Any]) -> list[str]:
    """Pointers to the studio's other tabs: shown here, never on the share page, whose reader has no studio."""
    if len({r["agent"] for r in spec["scores"]}) < 2:
        return []
    return ["Compare two agents question by question, with the exact McNemar test, in the Trajectories tab."]
