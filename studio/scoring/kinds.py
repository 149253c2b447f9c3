"""The scoring kinds a recipe's `scorer:` can name beyond the task's own exact match: a number within a
tolerance, the gold inside the prediction, a regular expression, a multiple-choice letter (a Python function
declared in the studio's config file: `studio.scoring.registry`; the expected tool calls: `studio.scoring.calls`).

They are plain functions over a prediction and its Question (a regex's `{gold}` written in by
`studio.tasks.gold`), tested without a model; the judge model and the choice of a scorer per question are
`studio.scoring.judge` and `studio.scoring.scorer`.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass

from studio.scoring.exact import ZERO, Score, extract_choice, normalize_answer, score
from studio.tasks.gold import regex_pattern
from studio.tasks.loaders import Question


def graded(value: float, pass_score: float, cost: float = 0.0) -> Score:
    """A Score for a value from 0 to 1: `em` and `f1` are the value, right from `pass_score` up."""
    return Score(value, value, value >= pass_score, cost)


def failed(error: str, cost: float = 0.0) -> Score:
    """An answer that could not be scored: it scores 0, and says why."""
    return Score(0.0, 0.0, False, cost, error)


# ---------------------------------------------------------------- numbers


@dataclass(frozen=True)
class Number:
    """A number read from text; `percent` when it was written with a percent sign (`value` is then /100)."""

    value: float
    percent: bool = False


# An optional sign and currency, digits (with thousands commas), an optional fraction or exponent, an
# optional percent. Not inside a word: "A1" and "COVID-19" hold no number of their own.
_NUMBER = re.compile(
    r"(?<![\w.])(?<!\w-)(?P<sign>[-+\u2212]?)\s*[$€£¥]?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?(?P<exp>[eE][-+]?\d+)?(?P<pct>\s*%)?"
)


def parse_number(text: str) -> Number | None:
    """The first number in `text`: "1,234.5", "-3", "12%" (0.12), "3/4", "$1,200", "about 42 apples" (42)."""
    for m in _NUMBER.finditer(text):
        value = float(m["num"].replace(",", "") + (m["exp"] or ""))
        if m["den"] is not None:
            if float(m["den"]) == 0:
                continue
            value /= float(m["den"])
        if m["sign"] in ("-", "\u2212"):
            value = -value
        if math.isfinite(value):
            return Number(value / 100, True) if m["pct"] else Number(value)
    return None


def numeric(prediction: str, gold: str, abs_tol: float, rel_tol: float) -> Score:
    """1 when the prediction's first number equals the gold's within either tolerance, else 0.

    When only one side has a percent sign, both readings count: for gold "12%", "0.12" and "12" are right;
    for gold "12", "12%" is right. A prediction without a number scores 0; a gold without one is an error.
    """
    gold_number = parse_number(gold)
    if gold_number is None:
        return failed(f"gold answer {gold!r} is not a number")
    pred = parse_number(prediction)
    if pred is None:
        return ZERO
    readings = [pred.value]
    if pred.percent and not gold_number.percent:
        readings.append(pred.value * 100)
    elif gold_number.percent and not pred.percent:
        readings.append(pred.value / 100)
    ok = any(math.isclose(v, gold_number.value, rel_tol=rel_tol, abs_tol=abs_tol) for v in readings)
    return graded(float(ok), 1.0)


NUMERIC_TASKS = frozenset({"arithmetic"})  # tasks whose answers are numbers, scored `numeric` unless a recipe says


def task_score(task: str, prediction: str | None, gold: str) -> Score:
    """A task's own scoring: numeric (default tolerances) for tasks of numbers, else `score`'s EM and F1."""
    if task in NUMERIC_TASKS:
        return numeric(prediction, gold, 1e-6, 1e-4) if prediction is not None else ZERO
    return score(task, prediction, gold)


# ---------------------------------------------------------------- text


def contains(prediction: str, gold: str) -> Score:
    """1 when the normalized gold appears in the normalized prediction as whole words ("Paris" in "It is
    Paris, France"; not "Par" in "Paris"), else 0."""
    needle = normalize_answer(gold)
    return graded(float(bool(needle) and f" {needle} " in f" {normalize_answer(prediction)} "), 1.0)


def regex(prediction: str, gold: str, pattern: str, full: bool) -> Score:
    """1 when the pattern matches the stripped prediction (anywhere, or all of it when `full`), else 0."""
    compiled = re.compile(regex_pattern(pattern, gold))
    text = prediction.strip()
    found = compiled.fullmatch(text) if full else compiled.search(text)
    return graded(float(found is not None), 1.0)


# ---------------------------------------------------------------- multiple choice


def options(cell: object) -> list[str]:
    """A choices cell as a list: a JSON list (as read from JSONL, or written in a CSV cell), or text with
    one option per `|`."""
    if isinstance(cell, str) and cell.lstrip().startswith("["):
        with contextlib.suppress(ValueError):  # not JSON after all: options between `|`
            cell = json.loads(cell)
    if isinstance(cell, list):
        return [str(c).strip() for c in cell]
    return [part.strip() for part in str(cell).split("|")]


def _letter(text: str, listed: list[str]) -> str | None:
    letter = extract_choice(text)
    if letter is None and listed:
        named = normalize_answer(text)
        letter = next((chr(65 + i) for i, o in enumerate(listed[:4]) if normalize_answer(o) == named), None)
    return letter


def choice(prediction: str, question: Question, column: str | None) -> Score:
    """1 when the prediction names the gold's choice letter (A-D, read as for MMLU), else 0. With `column`,
    the row's options in that column also let the prediction or the gold name an option by its text."""
    listed: list[str] = []
    if column is not None:
        if column not in question.extra:
            return failed(f"question {question.id} has no column {column!r} of choices")
        listed = options(question.extra[column])
    gold = _letter(question.answer, listed)
    if gold is None:
        return failed(f"gold answer {question.answer!r} names no choice")
    return graded(float(_letter(prediction, listed) == gold), 1.0)
