"""Text the views build for Markdown components: escaped so that no name or model output becomes markup or a
link, and the few words (plurals, the McNemar verdict, deep links) several tabs share. Imports nothing of the studio.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from typing import Any


def esc(value: Any) -> str:
    """Text for Markdown, shown as text: HTML-escaped, Markdown's markup characters neutralised, and the
    pieces GitHub-flavoured Markdown turns into links by themselves (`https://`, `www.`, `a@b`) broken up
    with character references, so no title or name becomes a link or an image the browser fetches. Quotes stay
    as they are: outside a tag they are text, and `&#x27;` would show literally once its `#` is escaped."""
    text = html.escape("" if value is None else str(value), quote=False)
    for ch in "\\`*_[]#|!~":
        text = text.replace(ch, "\\" + ch)
    return text.replace(":", "&#58;").replace("@", "&#64;").replace("www.", "www&#46;").replace("WWW.", "WWW&#46;")


def help_html(text: str) -> str:
    """Help text (a schema description, an unused section's reason) as HTML, for a Markdown component that reads
    it inside an HTML element, where Markdown is not read: escaped, its `code` and **bold** written as tags."""
    shown = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", shown)


def help_plain(text: str) -> str:
    """Help text for a label shown as plain text (an accordion's): its `code` and **bold** markup dropped."""
    return re.sub(r"\*\*(.+?)\*\*", r"\1", text).replace("`", "")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def chance(p_value: float) -> str:
    """Whether a difference with this exact McNemar p could be chance, in words."""
    return ("the difference is unlikely to be chance (p < 0.05)" if p_value < 0.05 else
            "the difference could be chance (p ≥ 0.05): more questions or seeds would tell")


def link(query: dict[str, str]) -> str:
    """A link to this studio page with a deep-link query (`on_load` follows it); shareable."""
    return "?" + urllib.parse.urlencode(query)
