"""Tasks: the shipped datasets (HotpotQA, Bamboogle, StrategyQA, MMLU), custom CSV/JSONL files, and scoring.

load_questions(task, split=None, path=None) -> list[Question]
draw(task, split, path, n, seed) -> list[Question]
score(task, prediction, gold) -> Score
find_gold(question_text) -> Question | None
"""

from studio.tasks.loaders import (
    SPLITS,
    TASKS,
    Question,
    TaskDataError,
    draw,
    find_gold,
    format_mmlu,
    load_custom,
    load_questions,
    question_key,
)
from studio.tasks.scoring import Score, extract_choice, normalize_answer, score, to_yes_no

__all__ = [
    "SPLITS",
    "TASKS",
    "Question",
    "Score",
    "TaskDataError",
    "draw",
    "extract_choice",
    "find_gold",
    "format_mmlu",
    "load_custom",
    "load_questions",
    "normalize_answer",
    "question_key",
    "score",
    "to_yes_no",
]
