"""The search tool as an agent sees it: query in, observation text out, through the store's cache; `SearchTool` is
the built-in search as a `Tool`.

Noise (a random passage or nothing, with probability p) is applied after the cache, so a noisy run
never poisons the cache, and it is drawn from (seed, query) so a resumed run sees the same noise.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from storage import Store
from studio.recipe.schema import Noise, Tool
from studio.tools import tool

EMPTY = "None"  # what the paper's tool returned when it found nothing


def backend_for(tool: Tool):
    """The search backend a recipe names."""
    if tool.backend == "local":
        from studio.tools.search_local import local_search

        return local_search()
    from studio.tools.search_remote import SerpApiSearch, WikipediaSearch

    if tool.backend == "serpapi":
        return SerpApiSearch(tool.api_key_env, tool.base_url, tool.timeout_s)
    return WikipediaSearch(tool.base_url, tool.timeout_s)


class Search:
    """Callable search tool: `search("query") -> observation`."""

    def __init__(self, tool: Tool, store: Store | None = None, noise: Noise | None = None):
        self.tool = tool
        self.store = store
        self.noise = noise if noise is not None else tool.noise
        self.backend = backend_for(tool)

    def passages(self, query: str) -> list[str]:
        """Clean top-k passages, from the cache when this query was asked before."""
        query = " ".join(query.split())
        if self.store is not None:
            cached = self.store.cache_get(self.tool.backend, query, self.tool.top_k)
            if cached is not None:
                return cached
        result = self.backend.search(query, self.tool.top_k)
        if self.store is not None:
            self.store.cache_put(self.tool.backend, query, self.tool.top_k, result)
        return result

    def __call__(self, query: str) -> str:
        rng = random.Random(f"{self.noise.seed}|{query}")
        if self.noise.p > 0 and rng.random() < self.noise.p:
            if self.noise.kind == "empty":
                return EMPTY
            return self._random_passage(rng)
        return "\n".join(self.passages(query)) or EMPTY

    @staticmethod
    def _random_passage(rng: random.Random) -> str:
        from studio.tools.search_local import local_search

        return rng.choice(local_search().passages)


class SearchTool(tool.Tool):
    """The built-in search: the whole text of a `search[text]` call is the query, as the paper's tool took it. Its
    cache is the store's one connection, so calls do not run at once; a failing backend raises."""

    concurrent = False

    def __init__(self, spec: tool.ToolSpec, search: Callable[[str], str]):
        super().__init__(spec)
        self.search = search

    def read(self, text: str) -> dict[str, Any]:
        return {"query": text}

    def with_noise(self, noise: Noise) -> SearchTool:
        if not isinstance(self.search, Search):
            return self
        return SearchTool(self.spec, Search(self.search.tool, self.search.store, noise))

    def call(self, args: dict[str, Any]) -> tool.CallResult:
        return tool.CallResult(self.search(args["query"]), False)
