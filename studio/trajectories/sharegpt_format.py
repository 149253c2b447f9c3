"""The ShareGPT / Hermes function-calling format (NousResearch/hermes-function-calling-v1 and its kin):
`{"conversations": [{"from": "system"|"human"|"gpt"|"tool", "value": ...}], "tools": "<JSON>" or [...]}`, calls as
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` in gpt turns, results as `<tool_response>` in tool turns.

Hermes files list the tools inside the system turn (`<tools> ... </tools>`, with the calling instructions): that
turn becomes the offered tools (the `tools` key wins where both are given) and is dropped, since the chat
template writes the tools and instructions itself.
LLaMA-Factory's `function_call` / `observation` turns are read too.
"""

from __future__ import annotations

import json
import re
from typing import Any

from studio.trajectories.conversation import Conversation, RecordError, loose_json
from studio.trajectories.schemas import normalise_tools

CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
RESPONSE = re.compile(r"<tool_response>(.*?)</tool_response>", re.DOTALL)
TOOLS = re.compile(r"<tools>(.*?)</tools>", re.DOTALL)
ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
         "tool": "tool", "observation": "tool", "function_call": "function_call"}


def _tool_list(text: str) -> list[dict[str, Any]]:
    """The tools of a `<tools>` block: one JSON (or Python-literal) list, or objects one after another."""
    try:
        found = loose_json(text)
    except RecordError:
        decoder, found, pos = json.JSONDecoder(), [], 0
        text = text.strip()
        while pos < len(text):
            try:
                item, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                raise RecordError("the <tools> block is not JSON") from None
            found.append(item)
            pos = end + len(text[end:]) - len(text[end:].lstrip())
    return found if isinstance(found, list) else [found]


def _tools(item: dict[str, Any], system_tools: str | None) -> list[dict[str, Any]]:
    raw: Any = item.get("tools")
    if isinstance(raw, str):
        raw = loose_json(raw) if raw.strip() else []
    elif raw is None:
        raw = _tool_list(system_tools) if system_tools is not None else []
    try:
        return normalise_tools(raw)
    except ValueError as exc:
        raise RecordError(f"`tools`: {exc}") from None


def _call(body: Any) -> tuple[None, Any, Any]:
    data = loose_json(body) if isinstance(body, str) else body
    if not isinstance(data, dict):
        raise RecordError("a <tool_call> is not a JSON object")
    return None, data.get("name"), data.get("arguments", {})


def _gpt(conversation: Conversation, value: str) -> None:
    if value.count("<tool_call>") != len(CALL.findall(value)):
        raise RecordError("a <tool_call> is not closed")
    conversation.assistant(CALL.sub("", value).strip(), [_call(b.strip()) for b in CALL.findall(value)])


def _tool(conversation: Conversation, value: str) -> None:
    bodies = [b.strip() for b in RESPONSE.findall(value)] or [value.strip()]
    for body in bodies:
        try:
            data = loose_json(body)
        except RecordError:
            data = None
        if isinstance(data, dict) and "content" in data:
            content = data["content"]
            text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
            conversation.tool(text, None, data.get("name") if isinstance(data.get("name"), str) else None)
        else:
            conversation.tool(body)


def read_sharegpt(item: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One record's (messages, offered tools), normalised; RecordError says why the record cannot be read."""
    turns = item.get("conversations") if isinstance(item, dict) else None
    if not isinstance(turns, list) or not turns:
        raise RecordError("expected an object with a non-empty `conversations` list")
    conversation, system_tools = Conversation(), None
    for n, turn in enumerate(turns, 1):
        try:
            if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
                raise RecordError("expected an object with `from` and a text `value`")
            role, value = ROLES.get(turn.get("from")), turn["value"]
            if role is None:
                raise RecordError(f"`from` {turn.get('from')!r} is not system, human, gpt or tool")
            listed = [body for body in TOOLS.findall(value) if body.strip()] if role == "system" else []
            if listed:  # the last block: the instructions before it may name the tags (`within <tools></tools>`)
                system_tools = listed[-1]
            elif role in ("system", "user"):
                conversation.say(role, value)
            elif role == "assistant":
                _gpt(conversation, value)
            elif role == "function_call":
                calls = loose_json(value)
                conversation.assistant("", [_call(c) for c in (calls if isinstance(calls, list) else [calls])])
            else:
                _tool(conversation, value)
        except RecordError as exc:
            raise RecordError(f"turn {n}: {exc}") from None
    return conversation.finish(), _tools(item, system_tools)


def _call_block(call: dict[str, Any]) -> str:
    function = call["function"]
    arguments = json.loads(function["arguments"]) if isinstance(function["arguments"], str) else function["arguments"]
    return "<tool_call>\n" + json.dumps({"name": function["name"], "arguments": arguments},
                                        ensure_ascii=False) + "\n</tool_call>"


def _in_call_order(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run of tool results sorted by the order of the calls they answer: Hermes pairs results with calls by
    position (it has no call ids), and one turn's calls are independent, so only their pairing carries meaning."""
    order = {c["id"]: n for m in messages for n, c in enumerate(m.get("tool_calls") or [])}
    out: list[dict[str, Any]] = []
    for m in messages:
        out.append(m)
        n = len(out) - 1
        while m["role"] == "tool" and n > 0 and out[n - 1]["role"] == "tool" and \
                order.get(out[n - 1]["tool_call_id"], 0) > order.get(m["tool_call_id"], 0):
            out[n - 1], out[n] = out[n], out[n - 1]
            n -= 1
    return out


def to_sharegpt(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Messages and tools as one ShareGPT/Hermes record: calls and results in Hermes tags (the results of one
    turn's calls in one tool turn, in the order of the calls), the tools as a JSON string."""
    turns: list[dict[str, str]] = []
    for m in _in_call_order(messages):
        if m["role"] == "tool":
            block = "<tool_response>\n" + json.dumps({"name": m.get("name", ""), "content": m["content"]},
                                                     ensure_ascii=False) + "\n</tool_response>"
            if turns and turns[-1]["from"] == "tool":
                turns[-1]["value"] += "\n" + block
            else:
                turns.append({"from": "tool", "value": block})
        elif m["role"] == "assistant":
            parts = [m.get("content") or ""] + [_call_block(c) for c in m.get("tool_calls") or []]
            turns.append({"from": "gpt", "value": "\n".join(p for p in parts if p)})
        else:
            turns.append({"from": "human" if m["role"] == "user" else "system", "value": m.get("content") or ""})
    return {"conversations": turns, "tools": json.dumps(tools or [], ensure_ascii=False)}
