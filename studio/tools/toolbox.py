"""The agent's tools behind one `call(name, text)`: the built-in search and the tools of MCP servers.

The agent writes `Action: name[...]`: JSON arguments, or plain text for a tool that takes one string. Whatever
goes wrong on the tool's side (arguments that do not fit its schema, an error result, a timeout, a dead server)
comes back as the observation the agent sees, with a status the outcome taxonomy counts; the run goes on.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from studio.errors import StudioError
from studio.recipe.schema import Noise, Recipe, ToolUse
from studio.tools.search import Search
from studio.trajectories.schemas import function_schema, string_param

if TYPE_CHECKING:
    from storage import Store
    from studio.owner.config import OwnerConfig
    from studio.tools.mcp_hub import McpHub, McpTool

SEARCH_SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
SEARCH_DESCRIPTION = "searches the web and returns the most relevant passage."
INVALID_CALL, TOOL_ERROR = "invalid call", "tool error"


class ToolboxError(StudioError):
    """The recipe's tools cannot be offered: a server that is not declared, a name filter that matches nothing."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the agent sees it (its `name` may carry the server's prefix) and where it comes from."""

    name: str
    description: str
    input_schema: dict
    server: str | None = None  # None: the built-in search
    tool: str = ""  # its own name on the server
    version: str | None = None
    timeout_s: float = 30.0
    max_chars: int | None = None

    @property
    def text_argument(self) -> str | None:
        """The one string parameter a `name[text]` call fills, if the tool has exactly one parameter."""
        return string_param(self.input_schema)

    def function(self) -> dict[str, Any]:
        """The tool as the chat APIs and chat templates take it (an OpenAI function schema)."""
        return function_schema(self.name, self.description, self.input_schema)

    def listing(self) -> dict[str, Any]:
        """What a run stores of the tool (and its fingerprint covers)."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema,
                "server": self.server, "version": self.version}



SEARCH = ToolSpec("search", SEARCH_DESCRIPTION, SEARCH_SCHEMA)  # the built-in search, uncut


def stored_specs(listing: list[dict[str, Any]] | None) -> list[ToolSpec]:
    """The tools of a run's stored listing; None (a run of a recipe with the `tool` section alone): the search."""
    if listing is None:
        return [SEARCH]
    return [ToolSpec(t["name"], t.get("description") or "", t.get("input_schema") or {}, t.get("server"),
                     version=t.get("version")) for t in listing]


def text_params(specs: list[ToolSpec]) -> dict[str, str]:
    """{tool name: the one string parameter a `name[text]` call fills}, for the tools that have one."""
    return {spec.name: spec.text_argument for spec in specs if spec.text_argument is not None}


@dataclass(frozen=True)
class Observation:
    text: str
    status: str = ""  # "", INVALID_CALL or TOOL_ERROR


def cut(text: str, max_chars: int | None) -> str:
    """`text`, or its first `max_chars` characters and a marker saying how much was left out."""
    if max_chars is None or len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[... cut: {len(text) - max_chars} more characters]"


def arguments(spec: ToolSpec, text: str) -> dict[str, Any] | str:
    """The call's arguments from what the agent wrote, or why they do not fit the tool's schema."""
    import jsonschema

    text = text.strip()
    args: Any = None
    if text.startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            args = json.loads(text)
    if args is None:
        param = spec.text_argument
        if param is None:
            return f"{spec.name} takes JSON arguments: {json.dumps(spec.input_schema.get('properties', {}))}"
        args = {param: text}
    try:
        jsonschema.validate(args, spec.input_schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"arguments of {spec.name} do not fit its schema{f' at {where}' if where else ''}: {exc.message}"
    except jsonschema.SchemaError:
        pass  # the server's own schema is broken: let the server judge the arguments
    return args


class Toolbox:
    """The tools of one run. `call` is safe from the many threads of episodes in flight."""

    def __init__(self, specs: list[ToolSpec], search: Callable[[str], str] | None, hub: McpHub | None, label: str,
                 listed: bool):
        self.specs, self.search, self.hub, self.label, self.listed = specs, search, hub, label, listed
        self.by_name = {spec.name: spec for spec in specs}

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def listing(self) -> list[dict[str, Any]] | None:
        """The tool list a run stores: None for a recipe with the `tool` section alone, as runs always were."""
        return [spec.listing() for spec in self.specs] if self.listed else None

    def with_noise(self, noise: Noise) -> Toolbox:
        """The same tools, with search noise at another level (the evaluation's noise levels)."""
        search = Search(self.search.tool, self.search.store, noise) if isinstance(self.search, Search) else self.search
        return Toolbox(self.specs, search, self.hub, self.label, self.listed)

    def concurrent(self, name: str) -> bool:
        """Whether calls of `name` may run at once from many threads: MCP tools do; the built-in search, whose cache
        is the store's one connection, does not."""
        return self.by_name[name].server is not None

    def call(self, name: str, text: str) -> Observation:
        """Run tool `name` on the agent's argument text. The built-in search raises when its backend fails (the
        episode fails, as it always did); an MCP tool never raises."""
        spec = self.by_name[name]
        if spec.server is None:
            return Observation(cut(self.search(text), spec.max_chars))
        args = arguments(spec, text)
        if isinstance(args, str):
            return Observation(f"Invalid call: {args}", INVALID_CALL)
        result = self.hub.call(spec.server, spec.tool, args, spec.timeout_s)
        return Observation(cut(result.text, spec.max_chars), TOOL_ERROR if result.is_error else "")

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
        spec = self.by_name[name]
        if spec.server is not None:
            return self.call(name, json.dumps(args))
        checked = arguments(spec, json.dumps(args))
        if isinstance(checked, str):
            return Observation(f"Invalid call: {checked}", INVALID_CALL)
        return self.call(name, checked["query"])


def search_spec(use: ToolUse) -> ToolSpec:
    return replace(SEARCH, max_chars=use.max_observation_chars)


def search_toolbox(search: Callable[[str], str], label: str = "local") -> Toolbox:
    """Search alone, as a recipe's `tool` section gives it, from any function of a query (tests, benchmarks)."""
    return Toolbox([SEARCH], search, None, label, listed=False)


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
        specs: list[ToolSpec] = []
        for use in recipe.tool_uses:
            if use.search is not None:
                specs.append(search_spec(use))
            else:
                specs.extend(server_specs(use, hub.tools(use.mcp), hub.server_info(use.mcp).get("version")))
        specs = prefix_clashes(specs)
        tool = recipe.search_tool
        search = Search(tool, store) if tool is not None else None
        yield Toolbox(specs, search, hub, ",".join(use.label for use in recipe.tool_uses), recipe.tools is not None)
