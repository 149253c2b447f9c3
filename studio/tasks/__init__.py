"""Tasks: the shipped datasets (HotpotQA, Bamboogle, StrategyQA, MMLU), custom CSV/JSONL files, and scoring.

load_questions(task, split=None, path=None, template=None) -> list[Question]
draw(task, split, path, n, seed, exclude=frozenset(), template=None) -> list[Question]
score(task, prediction, gold) -> Score  (a recipe's other scorers: studio.tasks.scorers, studio.agents.scorer)
find_gold(question_text) -> Question | None
"""

from studio.tasks.loaders import (
    SPLITS,
    TASKS,
    Question,
    TaskDataError,
    TemplateError,
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
    "TemplateError",
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
