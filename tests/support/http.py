"""A plain HTTP GET, as a browser or curl makes one, for the studio's own routes (share pages, config), and the
text a reader sees of a page."""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.request


def get(url: str) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers of a GET, error statuses included (they come back, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def visible_text(page: str) -> str:
    """The page's text as a reader sees it: no scripts or styles, tags dropped, entities decoded."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))
