"""The agent's tools behind one `call(name, text)`: every tool implements `studio.tools.tool.Tool`, so the toolbox
reads the arguments, calls the tool and cuts the observation the same way wherever the tool runs.

The agent writes `Action: name[...]`: JSON arguments, or plain text for a tool that takes one string. Whatever
goes wrong on the tool's side (arguments that do not fit its schema, an error result, a timeout, a dead server)
comes back as the observation the agent sees, with a status the outcome taxonomy counts; the run goes on.
It may import the tools, the recipe, the owner's config and the store; the MCP SDK only inside `open_toolbox`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from studio.errors import StudioError
from studio.recipe.schema import Noise, Recipe, ToolUse
from studio.tools.search import Search, SearchTool
from studio.tools.tool import SEARCH, Tool, ToolSpec

if TYPE_CHECKING:
    from storage import Store
    from studio.owner.config import OwnerConfig
    from studio.tools.mcp_hub import McpTool

INVALID_CALL, TOOL_ERROR = "invalid call", "tool error"


class ToolboxError(StudioError):
    """The recipe's tools cannot be offered: a server that is not declared, a name filter that matches nothing."""


@dataclass(frozen=True)
class Observation:
    text: str
    status: str = ""  # "", INVALID_CALL or TOOL_ERROR


def cut(text: str, max_chars: int | None) -> str:
    """`text`, or its first `max_chars` characters and a marker saying how much was left out."""
    if max_chars is None or len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[... cut: {len(text) - max_chars} more characters]"


class Toolbox:
    """The tools of one run. `call` is safe from the many threads of episodes in flight."""

    def __init__(self, tools: list[Tool], label: str, listed: bool):
        self.tools, self.label, self.listed = tools, label, listed
        self.specs = [tool.spec for tool in tools]
        self.by_name = {spec.name: spec for spec in self.specs}
        self._tools = {tool.name: tool for tool in tools}

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def listing(self) -> list[dict[str, Any]] | None:
        """The tool list a run stores: None for a recipe with the `tool` section alone, as runs always were."""
        return [spec.listing() for spec in self.specs] if self.listed else None

    def with_noise(self, noise: Noise) -> Toolbox:
        """The same tools, with search noise at another level (the evaluation's noise levels)."""
        return Toolbox([tool.with_noise(noise) for tool in self.tools], self.label, self.listed)

    def concurrent(self, name: str) -> bool:
        """Whether calls of `name` may run at once from many threads (the tool says)."""
        return self._tools[name].concurrent

    def call(self, name: str, text: str) -> Observation:
        """Run tool `name` on the agent's argument text. A tool that runs in this process may raise when its backend
        fails (the built-in search: the episode fails, as it always did); an MCP tool never raises."""
        tool = self._tools[name]
        args = tool.read(text)
        if isinstance(args, str):
            return Observation(f"Invalid call: {args}", INVALID_CALL)
        return self._run(tool, args)

    def call_native(self, name: str, text: str) -> Observation:
        """Run tool `name` on a native tool call's JSON arguments (the `tools` format): arguments that are not a JSON
        object fitting the tool's schema are an invalid call the agent sees."""
        try:
            args = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            return Observation(f"Invalid call: the arguments of {name} are not valid JSON ({exc.msg}): {text[:200]}",
                               INVALID_CALL)
        if not isinstance(args, dict):
            return Observation(f"Invalid call: the arguments of {name} are a JSON object, not {text[:200]}",
                               INVALID_CALL)
        tool = self._tools[name]
        args = tool.check(args)
        if isinstance(args, str):
            return Observation(f"Invalid call: {args}", INVALID_CALL)
        return self._run(tool, args)

    @staticmethod
    def _run(tool: Tool, args: dict[str, Any]) -> Observation:
        result = tool.call(args)
        return Observation(cut(result.text, tool.spec.max_chars), TOOL_ERROR if result.is_error else "")


def search_spec(use: ToolUse) -> ToolSpec:
    return replace(SEARCH, max_chars=use.max_observation_chars)


def search_toolbox(search: Callable[[str], str], label: str = "local") -> Toolbox:
    """Search alone, as a recipe's `tool` section gives it, from any function of a query (tests, benchmarks)."""
    return Toolbox([SearchTool(SEARCH, search)], label, listed=False)


def server_specs(use: ToolUse, tools: list[McpTool], version: str | None = None) -> list[ToolSpec]:
    """The tools of an `mcp` entry the agent is given: the server's, filtered by `include` and `exclude`, each of
    which must name a tool the server offers."""
    offered = {t.name for t in tools}
    for name in [*(use.include or []), *use.exclude]:
        if name not in offered:
            raise ToolboxError(f"tools: MCP server `{use.mcp}` has no tool `{name}` (it offers "
                               f"{', '.join(sorted(offered)) or 'none'})")
    return [ToolSpec(t.name, t.description, t.input_schema, use.mcp, t.name, version, use.timeout_s,
                     use.max_observation_chars)
            for t in tools if (use.include is None or t.name in use.include) and t.name not in use.exclude]


def prefix_clashes(specs: list[ToolSpec]) -> list[ToolSpec]:
    """Tools two entries offer under one name are called `server.name` (search keeps its name)."""
    seen: dict[str, int] = {}
    for spec in specs:
        seen[spec.name] = seen.get(spec.name, 0) + 1
    return [replace(spec, name=f"{spec.server}.{spec.name}") if seen[spec.name] > 1 and spec.server else spec
            for spec in specs]


@contextlib.contextmanager
def open_toolbox(recipe: Recipe, store: Store | None = None, config: OwnerConfig | None = None) -> Iterator[Toolbox]:
    """The recipe's tools, connected for the length of a stage: one session per MCP server, closed after. The
    servers are those `config` declares (default: the studio's active config)."""
    servers = [use.mcp for use in recipe.tool_uses if use.mcp is not None]
    with contextlib.ExitStack() as stack:
        hub = None
        if servers:
            from studio.owner.config import active_config
            from studio.tools.mcp_hub import McpHub

            config = config or active_config(store.path if store is not None else None)
            hub = stack.enter_context(McpHub(config, servers))
        tool = recipe.search_tool
        search = Search(tool, store) if tool is not None else None
        offered: list[tuple[ToolSpec, Callable[[ToolSpec], Tool]]] = []  # each spec, and the tool it becomes
        for use in recipe.tool_uses:
            if use.search is not None:
                offered.append((search_spec(use), partial(SearchTool, search=search)))
            else:
                specs = server_specs(use, hub.tools(use.mcp), hub.server_info(use.mcp).get("version"))
                offered += [(spec, hub.tool) for spec in specs]
        specs = prefix_clashes([spec for spec, _ in offered])
        tools = [make(spec) for spec, (_, make) in zip(specs, offered, strict=True)]
        yield Toolbox(tools, ",".join(use.label for use in recipe.tool_uses), recipe.tools is not None)
