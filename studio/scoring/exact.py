"""Answer scoring per task: exact match and token F1 as in HotpotQA, yes/no for StrategyQA, letters for MMLU.

Text answers use SQuAD/HotpotQA normalisation (lowercase, drop punctuation, drop the articles a/an/the,
collapse whitespace), with two additions that only make equal strings compare equal: Unicode text is
NFKC-normalised first, and Unicode punctuation (curly quotes, dashes, ...) counts as punctuation,
so "Ogden’s" and "Ogden's" agree. It imports nothing of the studio's.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass

TEXT_TASKS = frozenset({"hotpotqa", "bamboogle", "custom"})
SCORED_TASKS = TEXT_TASKS | {"strategyqa", "mmlu"}

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCT = frozenset(string.punctuation)
_YES = frozenset({"yes", "true"})
_NO = frozenset({"no", "false"})
_LETTERS = "ABCD"


@dataclass(frozen=True)
class Score:
    """One answer's score. `em` is the score from 0 to 1 (exact match for the exact kinds), `cost` what scoring
    it spent in USD (a judge model's tokens), `error` why it could not be scored (then it scores 0)."""

    em: float
    f1: float
    correct: bool
    cost: float = 0.0
    error: str | None = None


ZERO = Score(0.0, 0.0, False)


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no articles, single spaces."""
    s = unicodedata.normalize("NFKC", s).lower()
    s = "".join(ch for ch in s if not _is_punct(ch))
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token F1 as in the official HotpotQA evaluation, including its yes/no/noanswer rule."""
    pred = normalize_answer(prediction)
    ref = normalize_answer(gold)
    special = ("yes", "no", "noanswer")
    if (pred in special or ref in special) and pred != ref:
        return 0.0
    pred_tokens = pred.split()
    ref_tokens = ref.split()
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def to_yes_no(text: str | None) -> str | None:
    """ "yes"/"no" for yes/true/no/false in any case with any punctuation around ("Yes.", "FALSE"); else None."""
    if text is None:
        return None
    word = normalize_answer(text)
    if word in _YES:
        return "yes"
    if word in _NO:
        return "no"
    return None


# A bare choice: "B", "b", "B.", "(B)", "B)", "[B]", "B:".
_BARE_CHOICE = re.compile(r"^[\s(\[]*([A-Da-d])[\s)\].:]*$")
# A choice followed by its text: "B. Paris", "(B) Paris", "B) Paris", "B: Paris".
_LEADING_CHOICE = re.compile(r"^\s*[(\[]?([A-D])(?:[)\].:]|\s*[)\]])\s+\S")
# "the answer is (C)", "Answer: C", "answer is option D.".
_STATED_CHOICE = re.compile(
    r"answer\s*(?:is|:)?\s*:?\s*(?:option\s+|choice\s+)?[(\[]?([A-D])(?![A-Za-z0-9])", re.IGNORECASE
)


def extract_choice(text: str | None) -> str | None:
    """The multiple-choice letter A-D a prediction names, or None when it names none."""
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).strip()
    m = _BARE_CHOICE.match(text) or _LEADING_CHOICE.match(text)
    if m:
        return m.group(1).upper()
    stated = [m.group(1) for m in _STATED_CHOICE.finditer(text) if m.group(1) in _LETTERS]
    return stated[-1] if stated else None


def _all_or_nothing(ok: bool) -> Score:
    return Score(1.0, 1.0, True) if ok else ZERO


def score(task: str, prediction: str | None, gold: str) -> Score:
    """Score one prediction against the gold answer of a question of `task`."""
    if task not in SCORED_TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(sorted(SCORED_TASKS))}")
    if prediction is None:
        return ZERO
    if task == "strategyqa":
        pred = to_yes_no(prediction)
        return _all_or_nothing(pred is not None and pred == to_yes_no(gold))
    if task == "mmlu":
        letter = extract_choice(prediction)
        return _all_or_nothing(letter is not None and letter == gold.strip().upper())
    em = exact_match(prediction, gold)
    return Score(em, f1_score(prediction, gold), em == 1.0)
