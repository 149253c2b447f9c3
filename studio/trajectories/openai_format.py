"""The OpenAI fine-tuning chat format with tools: one `{"messages": [...], "tools": [...]}` object per JSONL line,
assistant `tool_calls` with JSON-text arguments, `role: tool` results with `tool_call_id` (also the legacy
`functions` / `function_call` / `role: function` keys). Together and Fireworks read the same shape."""

from __future__ import annotations

from typing import Any

from studio.trajectories.conversation import Conversation, RecordError
from studio.trajectories.messages import tool_call
from studio.trajectories.schemas import normalise_tools


def content_text(content: Any) -> str:
    """A message's content as text: a string, null, or a list of parts whose text parts are joined."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        return "".join(str(p.get("text") or "") for p in content if p.get("type", "text") == "text")
    raise RecordError("content is neither text nor a list of text parts")


def _calls(message: dict[str, Any]) -> list[tuple[str | None, Any, Any]]:
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise RecordError("`tool_calls` is not a list")
    found = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise RecordError("a tool call has no `function` object")
        found.append((call.get("id"), function.get("name"), function.get("arguments", "{}")))
    legacy = message.get("function_call")
    if legacy is not None:
        if not isinstance(legacy, dict):
            raise RecordError("`function_call` is not an object")
        found.append((None, legacy.get("name"), legacy.get("arguments", "{}")))
    return found


def read_openai(item: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One record's (messages, offered tools), normalised; RecordError says why the record cannot be read."""
    if not isinstance(item, dict) or not isinstance(item.get("messages"), list) or not item["messages"]:
        raise RecordError("expected an object with a non-empty `messages` list")
    key = "tools" if "tools" in item else "functions"
    try:
        tools = normalise_tools(item.get(key) or [])
    except ValueError as exc:
        raise RecordError(f"`{key}`: {exc}") from None
    conversation = Conversation()
    for n, message in enumerate(item["messages"], 1):
        try:
            if not isinstance(message, dict):
                raise RecordError("not an object")
            role, content = message.get("role"), content_text(message.get("content"))
            if role in ("system", "developer", "user"):
                conversation.say("user" if role == "user" else "system", content)
            elif role == "assistant":
                conversation.assistant(content, _calls(message))
            elif role == "tool":
                conversation.tool(content, message.get("tool_call_id"))
            elif role == "function":
                conversation.tool(content, None, message.get("name"))
            else:
                raise RecordError(f"role {role!r} is not system, user, assistant or tool")
        except RecordError as exc:
            raise RecordError(f"message {n}: {exc}") from None
    return conversation.finish(), tools


def to_openai(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Messages and tools as one fine-tuning record: only the keys the API accepts (no `name` on tool results),
    arguments as JSON text, an assistant turn's content left out when it only calls."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            entry: dict[str, Any] = {"role": "assistant"}
            if m.get("content"):
                entry["content"] = m["content"]
            entry["tool_calls"] = [tool_call(c["id"], c["function"]["name"], c["function"]["arguments"])
                                   for c in m["tool_calls"]]
            out.append(entry)
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    record: dict[str, Any] = {"messages": out}
    if tools:
        record["tools"] = tools
    return record
