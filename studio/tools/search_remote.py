"""Remote search backends: SerpAPI (Google, the paper's tool) and Wikipedia's search API."""

from __future__ import annotations

import os

import httpx

from studio.errors import StudioError
from studio.owner.config import SERPAPI_URL, WIKIPEDIA_URL


class SearchError(StudioError, RuntimeError):
    """A remote search failed; the message says which backend and why."""


class SerpApiSearch:
    """Google through SerpAPI: the answer box if there is one, else organic snippets, as the paper's tool."""

    name = "serpapi"

    def __init__(self, api_key_env: str | None, base_url: str | None = None, timeout_s: float = 20.0):
        self.key = os.environ.get(api_key_env) if api_key_env else None
        if not self.key:
            raise SearchError(f"serpapi: environment variable {api_key_env} is not set")
        self.url = base_url or SERPAPI_URL
        self.timeout_s = timeout_s

    def search(self, query: str, top_k: int = 1) -> list[str]:
        data = _get_json(self.name, self.url, {"q": query, "engine": "google", "api_key": self.key}, self.timeout_s)
        box = data.get("answer_box") or {}
        first = box.get("answer") or box.get("snippet") or (box.get("snippet_highlighted_words") or [None])[0]
        snippets = [r["snippet"] for r in data.get("organic_results", []) if r.get("snippet")]
        return (([first] if first else []) + snippets)[:top_k]


class WikipediaSearch:
    """Intro paragraphs of the best-matching Wikipedia pages."""

    name = "wikipedia"

    def __init__(self, base_url: str | None = None, timeout_s: float = 20.0):
        self.url = base_url or WIKIPEDIA_URL
        self.timeout_s = timeout_s

    def search(self, query: str, top_k: int = 1) -> list[str]:
        params = {
            "action": "query", "format": "json", "generator": "search", "gsrsearch": query, "gsrlimit": top_k,
            "prop": "extracts", "exintro": 1, "explaintext": 1, "exsentences": 3,
        }
        pages = (_get_json(self.name, self.url, params, self.timeout_s).get("query") or {}).get("pages") or {}
        ranked = sorted(pages.values(), key=lambda p: p.get("index", 0))
        return [p["extract"].strip() for p in ranked if p.get("extract", "").strip()][:top_k]


def _get_json(backend: str, url: str, params: dict, timeout_s: float) -> dict:
    try:
        response = httpx.get(url, params=params, timeout=timeout_s)
        response.raise_for_status()
        data = response.json()
    except httpx.HTTPStatusError as exc:
        raise SearchError(f"{backend}: HTTP {exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise SearchError(f"{backend}: {type(exc).__name__}: {exc}") from None
    except ValueError:
        raise SearchError(f"{backend}: the reply is not JSON") from None
    if not isinstance(data, dict):
        raise SearchError(f"{backend}: unexpected reply")
    return data
