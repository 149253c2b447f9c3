"""Reading an OpenAI-compatible server's reply bodies: a completion's text, a chat turn's content and tool calls.

A body that cannot be read raises `MalformedReply`, which the backend retries like a 5xx. A tool call is kept as the
server sent it (arguments that are bad JSON, a tool nobody offered): judging a call is the agent loop's job, and the
episode counts it. Only a call that cannot be written back as an OpenAI call (no function name, arguments that are
neither text nor an object) is refused, its reason in `ChatReply.malformed`.
"""

from __future__ import annotations

import json
from typing import Any

from studio.llm.base import ChatReply
from studio.trajectories.messages import tool_call


class MalformedReply(Exception):
    """The body is not a reply; the message says why ("malformed reply (...)")."""


def _first_choice(raw: bytes) -> tuple[dict[str, Any], dict | None]:
    """The first choice of a reply body and its `usage` object."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedReply("malformed reply (not JSON)") from None
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedReply("malformed reply (no choices)")
    usage = body.get("usage")
    return choices[0], usage if isinstance(usage, dict) else None


def text_reply(raw: bytes, chat: bool) -> tuple[str, dict | None]:
    """The text of a completion (or of a chat reply's message) and the `usage` object."""
    choice, usage = _first_choice(raw)
    if chat:
        message = choice.get("message")
        if not isinstance(message, dict) or "content" not in message:
            raise MalformedReply("malformed reply (no message content)")
        text = message["content"] or ""  # null content (e.g. a refusal) is an empty reply, not a broken one
    else:
        text = choice.get("text")
    if not isinstance(text, str):
        raise MalformedReply("malformed reply (no text)")
    return text, usage


def chat_reply(raw: bytes) -> tuple[ChatReply, dict | None]:
    """An assistant turn (content, its tool calls in order, the calls refused) and the `usage` object."""
    choice, usage = _first_choice(raw)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedReply("malformed reply (no message)")
    content = message.get("content") or ""
    calls = message.get("tool_calls") or []
    if not isinstance(content, str):
        raise MalformedReply("malformed reply (content is not text)")
    if not isinstance(calls, list):
        raise MalformedReply("malformed reply (tool_calls is not a list)")
    if not content and not calls:
        raise MalformedReply("malformed reply (neither content nor tool calls)")
    reply = ChatReply(content)
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            reply.malformed.append(f"tool call {i + 1} names no function")
        elif not isinstance(arguments, str | dict):  # an object is JSON already (some servers send one)
            reply.malformed.append(f"tool call {i + 1} ({name}) has no arguments")
        else:
            call_id = call.get("id")
            reply.tool_calls.append(tool_call(call_id if isinstance(call_id, str) and call_id else f"call_{i}",
                                              name, arguments))
    return reply, usage
