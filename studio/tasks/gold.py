"""A question's gold in the forms scorers read it, below the recipe so the recipe checks them when it loads: the
expected tool calls in a column of a custom file (the gold of the `tool_calls` scorer), and a `regex` scorer's
pattern with the gold written into it. How an answer is scored against them is `studio.scoring`'s.

It imports the tasks' Question alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from studio.tasks.loaders import Question

CALLS_COLUMN = "calls"


class CallsError(ValueError):
    """Calls that cannot be read: the message says which and why."""


def read_calls(value: Any) -> list[dict[str, Any]]:
    """`[{"name": ..., "arguments": {...}}]` (JSON text or the list itself; OpenAI's `{"function": {...}}` entries
    and arguments written as JSON text are read too) as a list of {name, arguments}."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise CallsError(f"not JSON ({exc.msg})") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise CallsError("not a JSON list of calls")
    calls = []
    for i, entry in enumerate(value, 1):
        function = entry.get("function", entry) if isinstance(entry, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise CallsError(f"call {i} has no `name`")
        arguments = function.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                raise CallsError(f"the arguments of call {i} are not JSON") from None
        if not isinstance(arguments, dict):
            raise CallsError(f"the arguments of call {i} are not a JSON object")
        calls.append({"name": function["name"], "arguments": arguments})
    return calls


def expected_calls(question: Question, column: str | None) -> list[dict[str, Any]]:
    """The question's expected calls: from `column`, else the `calls` column when it has one, else its answer.
    Raises CallsError naming the question and the column."""
    name = column or (CALLS_COLUMN if CALLS_COLUMN in question.extra else None)
    if name is not None and name not in question.extra:
        raise CallsError(f"question {question.id} has no column {name!r} of expected calls")
    try:
        return read_calls(question.extra[name] if name is not None else question.answer)
    except CallsError as exc:
        raise CallsError(f"question {question.id}: column {name or 'answer'!r} of expected calls: {exc}") from None


def regex_pattern(pattern: str, gold: str) -> str:
    """The pattern with every `{gold}` replaced by the escaped gold answer (other braces are regex syntax)."""
    return pattern.replace("{gold}", re.escape(gold))
