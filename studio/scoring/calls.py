"""The `tool_calls` scorer: for tasks whose gold is the calls themselves (which tool, which arguments), the calls
an agent made against the expected ones in a column of the question file.

Values match with type coercion, since models and files write the same argument differently ("3" == 3 == 3.0,
"true" == true); calls match in any order unless `ordered`. EM: every call matches (as a multiset, or a sequence);
F1: over the calls matched one to one (a maximum matching, or the longest common subsequence when ordered).
The expected calls are read from the question by `studio.tasks.gold`, which the recipe checks them with too.
"""

from __future__ import annotations

import json
import math
from typing import Any

from studio.scoring.exact import ZERO, Score
from studio.scoring.kinds import failed
from studio.tasks.gold import CallsError, expected_calls, read_calls
from studio.tasks.loaders import Question


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def same_value(a: Any, b: Any) -> bool:
    """Equal up to how a value is written: numbers as numbers ("3" == 3 == 3.0), booleans and null as their JSON
    words ("true" == true), strings stripped, JSON text as the value it holds; objects key by key, lists in order."""
    if isinstance(a, str) and isinstance(b, str) and a.strip() == b.strip():
        return True
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    for u, v in ((a, b), (b, a)):
        if isinstance(u, bool | None) and isinstance(v, str):
            return v.strip().lower() == json.dumps(u)
        if isinstance(u, dict | list) and isinstance(v, str) and v.strip()[:1] in "{[":
            try:
                return same_value(u, json.loads(v))
            except json.JSONDecodeError:
                return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(u, v) for u, v in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def same_call(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["name"].strip() == b["name"].strip() and same_value(a["arguments"], b["arguments"])


def _matched_any_order(made: list[dict], expected: list[dict]) -> int:
    """Size of a maximum one-to-one matching (augmenting paths; coercion need not be transitive)."""
    owner: dict[int, int] = {}  # expected index -> made index

    def place(i: int, seen: set[int]) -> bool:
        for j, gold in enumerate(expected):
            if j not in seen and same_call(made[i], gold):
                seen.add(j)
                if j not in owner or place(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(place(i, set()) for i in range(len(made)))


def _matched_in_order(made: list[dict], expected: list[dict]) -> int:
    """Length of the longest common subsequence of calls."""
    row = [0] * (len(expected) + 1)
    for call in made:
        previous = row[:]
        for j, gold in enumerate(expected, 1):
            row[j] = previous[j - 1] + 1 if same_call(call, gold) else max(previous[j], row[j - 1])
    return row[-1]


def score_calls(made: list[dict[str, Any]], expected: list[dict[str, Any]], ordered: bool,
                pass_score: float) -> Score:
    """EM 1 when every call matches (no call missing or extra), F1 over the calls matched; right from
    `pass_score` of F1 up (1: exactly the expected calls)."""
    if not made and not expected:
        return Score(1.0, 1.0, True)
    matched = (_matched_in_order if ordered else _matched_any_order)(made, expected)
    if not matched:
        return ZERO
    precision, recall = matched / len(made), matched / len(expected)
    f1 = 2 * precision * recall / (precision + recall)
    em = float(matched == len(made) == len(expected))
    return Score(em, f1, f1 >= pass_score)


def tool_calls(prediction: str | None, question: Question, column: str | None, ordered: bool,
               pass_score: float) -> Score:
    """The score of the calls an agent made (`prediction`: their JSON list, as the tools loop passes it) against
    the question's expected calls; an unreadable gold or prediction scores 0 with the reason as the error."""
    try:
        expected = expected_calls(question, column)
    except CallsError as exc:
        return failed(str(exc))
    if prediction is None:
        return ZERO
    try:
        made = read_calls(prediction)
    except CallsError as exc:
        return failed(f"the agent's calls are not a JSON list of calls: {exc}")
    return score_calls(made, expected, ordered, pass_score)
