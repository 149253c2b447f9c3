"""Tasks: the shipped datasets (HotpotQA, Bamboogle, StrategyQA, MMLU, arithmetic and its calculator), custom
CSV/JSONL files, and a question's gold in the forms scorers read it (`gold`: expected tool calls, a regex with the
gold written in). Their scoring is `studio.scoring`, layers up; tasks import only the base.

load_questions(task, split=None, path=None, template=None) -> list[Question]
draw(task, split, path, n, seed, exclude=frozenset(), template=None) -> list[Question]
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

__all__ = [
    "SPLITS",
    "TASKS",
    "Question",
    "TaskDataError",
    "TemplateError",
    "draw",
    "find_gold",
    "format_mmlu",
    "load_custom",
    "load_questions",
    "question_key",
]
