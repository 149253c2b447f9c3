"""One tool: its spec (name, description, JSON schema, where it comes from) and the one interface every tool
implements (`Tool.call`), whether it runs in this process (the built-in search, the calculator) or on an MCP server.

The light room of the tools: it imports only `studio.trajectories.schemas` (jsonschema inside the function that
checks arguments, the recipe's Noise for type hints), so the training worker and the cards read a run's stored
tools without the toolbox, the store or the MCP SDK.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.trajectories.schemas import function_schema, string_param

if TYPE_CHECKING:
    from studio.recipe.schema import Noise

SEARCH_SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
SEARCH_DESCRIPTION = "searches the web and returns the most relevant passage."


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
class CallResult:
    """What a tool call gave back; `is_error` covers the tool's own errors, timeouts and dead servers."""

    text: str
    is_error: bool


def checked(spec: ToolSpec, args: dict[str, Any]) -> dict[str, Any] | str:
    """The arguments if they fit the tool's schema, else why they do not."""
    import jsonschema

    try:
        jsonschema.validate(args, spec.input_schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"arguments of {spec.name} do not fit its schema{f' at {where}' if where else ''}: {exc.message}"
    except jsonschema.SchemaError:
        pass  # the server's own schema is broken: let the server judge the arguments
    return args


def arguments(spec: ToolSpec, text: str) -> dict[str, Any] | str:
    """The call's arguments from what the agent wrote (JSON, or plain text for a tool that takes one string), or
    why they do not fit the tool's schema."""
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
    return checked(spec, args)


class Tool(ABC):
    """A tool the agent can call: its spec (name, description, JSON schema) and `call`. The toolbox reads the
    agent's arguments with `read` (or `check`, for a native call's JSON) and calls every tool the same way."""

    concurrent = True  # calls may run at once from many threads

    def __init__(self, spec: ToolSpec):
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def input_schema(self) -> dict:
        return self.spec.input_schema

    def read(self, text: str) -> dict[str, Any] | str:
        """The arguments of a `name[text]` call, or why they do not fit the schema."""
        return arguments(self.spec, text)

    def check(self, args: dict[str, Any]) -> dict[str, Any] | str:
        """A native call's arguments (a JSON object) if they fit the schema, else why they do not."""
        return checked(self.spec, args)

    def with_noise(self, noise: Noise) -> Tool:
        """The tool at another search-noise level (the evaluation's): itself, for a tool that has no noise."""
        return self

    @abstractmethod
    def call(self, args: dict[str, Any]) -> CallResult:
        """Run the tool on arguments that fit its schema."""
