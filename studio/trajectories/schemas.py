"""Tools as OpenAI function schemas (`{"type": "function", "function": {name, description, parameters}}`), the form
tools-format episodes store and the fine-tuning files carry, read leniently from what datasets write."""

from __future__ import annotations

from typing import Any


def function_schema(name: str, description: str, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """One tool as the OpenAI API lists it."""
    return {"type": "function", "function": {
        "name": name, "description": description, "parameters": parameters or {"type": "object", "properties": {}}}}


def string_param(parameters: dict[str, Any] | None) -> str | None:
    """The one string parameter a `name[text]` call fills, if the schema has exactly one parameter."""
    properties = (parameters or {}).get("properties") or {}
    if len(properties) == 1:
        (param, schema), = properties.items()
        if isinstance(schema, dict) and schema.get("type", "string") == "string":
            return param
    return None


def string_params(tools: list[dict[str, Any]] | None) -> dict[str, str]:
    """{tool name: its one string parameter} for the offered tools that have one (for `steps_from_messages` and the
    cards); a bare function (no `{"type": "function"}` wrapper) is read as well."""
    found = {}
    for tool in tools or []:
        function = tool.get("function") or tool
        param = string_param(function.get("parameters"))
        if param is not None:
            found[function.get("name", "")] = param
    return found


def normalise_tools(raw: Any) -> list[dict[str, Any]]:
    """A dataset's tool list as OpenAI function schemas: entries already wrapped (`{"type": "function",
    "function": {...}}`) or bare functions (`{name, description, parameters}`, as the legacy `functions` key and
    many ShareGPT files write them). Raises ValueError saying what is wrong."""
    if not isinstance(raw, list):
        raise ValueError("the tools are not a list")
    tools = []
    for i, entry in enumerate(raw, 1):
        function = entry.get("function", entry) if isinstance(entry, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise ValueError(f"tool {i} has no name")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise ValueError(f"tool {function['name']!r}: parameters are not a JSON object")
        tools.append(function_schema(function["name"], str(function.get("description") or ""), parameters))
    return tools
