"""One recorded tool-calling conversation, built turn by turn into the chat messages a `tools` episode stores.

The readers of the public formats (OpenAI fine-tuning JSONL, ShareGPT/Hermes) feed it turns; it gives every call an
id and a JSON-text arguments object, pairs each tool result with the call it answers (adding the call's name), and
raises RecordError for a turn that cannot be part of a trajectory, so the record is skipped whole.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from studio.trajectories.messages import tool_call


class RecordError(ValueError):
    """Why one record of a tool-calling file cannot be imported; the file reader adds its file and line."""


def loose_json(text: str) -> Any:
    """JSON, or the Python literal many datasets wrote instead (`{'name': 'f', 'arguments': {...}}`, as in
    NousResearch/hermes-function-calling-v1). Raises RecordError when it is neither."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        error = exc.msg
    except RecursionError:
        raise RecordError("JSON nested too deeply") from None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise RecordError(f"invalid JSON ({error}): {text.strip()[:60]!r}") from None


def arguments_text(arguments: Any, name: str) -> str:
    """A call's arguments as the JSON text of an object: kept as written when it is already that, else dumped."""
    value = arguments
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            raise RecordError(f"the arguments of the call to {name!r} are not JSON: {arguments[:60]!r}") from None
        if isinstance(value, dict):
            return arguments if arguments.strip() else "{}"
    if not isinstance(value, dict):
        raise RecordError(f"the arguments of the call to {name!r} are not a JSON object")
    return json.dumps(value, ensure_ascii=False)


class Conversation:
    """Normalised messages: system/user {role, content}; assistant {role, content, tool_calls?}; tool {role,
    tool_call_id, name, content}."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.pending: dict[str, str] = {}  # id -> name of the calls no result answered yet, in order
        self.ids: set[str] = set()

    def say(self, role: str, content: str) -> None:
        self.messages.append({"role": role, "content": content})

    def assistant(self, content: str, calls: list[tuple[str | None, Any, Any]]) -> None:
        """An assistant turn: its text and its calls as (id or None, name, arguments as JSON text or object)."""
        entries = []
        for call_id, name, arguments in calls:
            if not isinstance(name, str) or not name.strip():
                raise RecordError("a tool call has no function name")
            if call_id is not None and (not isinstance(call_id, str) or call_id in self.ids):
                raise RecordError(f"tool call id {call_id!r} is not a unique string")
            call_id = call_id or self._new_id()
            self.ids.add(call_id)
            self.pending[call_id] = name
            entries.append(tool_call(call_id, name, arguments_text(arguments, name)))
        if not entries and not content.strip():
            raise RecordError("an assistant turn has neither text nor tool calls")
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if entries:
            message["tool_calls"] = entries
        self.messages.append(message)

    def tool(self, content: str, call_id: str | None = None, name: str | None = None) -> None:
        """A tool's result, for the call `call_id`; without an id, the first unanswered call (of `name`, if given)."""
        if call_id is None:
            call_id = next((i for i, n in self.pending.items() if name is None or n == name), None)
            if call_id is None:
                raise RecordError(f"a tool result{f' of {name!r}' if name else ''} answers no call before it")
        elif call_id not in self.pending:
            raise RecordError(f"tool_call_id {call_id!r} answers no call before it")
        self.messages.append({"role": "tool", "tool_call_id": call_id, "name": self.pending.pop(call_id),
                              "content": content})

    def _new_id(self) -> str:
        n = len(self.ids)
        while f"call_{n}" in self.ids:
            n += 1
        return f"call_{n}"

    def finish(self) -> list[dict[str, Any]]:
        """The messages, once they hold a question and an assistant turn."""
        if not any(m["role"] == "user" for m in self.messages):
            raise RecordError("no user message (the question)")
        if not any(m["role"] == "assistant" for m in self.messages):
            raise RecordError("no assistant turn")
        return self.messages
