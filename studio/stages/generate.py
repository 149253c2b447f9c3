"""The generate stage: the teacher answers the recipe's task mix with each prompting method, and
every finished episode is committed at once; a rerun skips what is done and retries what failed."""

from __future__ import annotations

import threading

from storage import Store
from studio.llm.base import Backend
from studio.recipe.schema import Recipe
from studio.stages.episodes import Part, Plan, run_stage
from studio.stages.runs import ProgressFn, StageContext, StageResult
from studio.tasks import Question, draw, question_key


def evaluation_questions(recipe: Recipe) -> list[Question]:
    """Every question the recipe evaluates on (generation never trains on them)."""
    return [q for s in recipe.evaluation.sets for q in draw(s.task, s.split, s.path, s.n, None, template=s.template)]


def generation_questions(recipe: Recipe) -> list[Question]:
    """The recipe's task mix, drawn with each entry's seed, evaluation questions left out."""
    exclude = frozenset(question_key(q.question) for q in evaluation_questions(recipe))
    return [q for t in recipe.tasks for q in draw(t.task, t.split, t.path, t.n, t.seed, exclude, t.template)]


def generation_plan(recipe: Recipe, questions: list[Question], backend: Backend | None = None) -> Plan:
    """The teacher on `questions` with each method, at the recipe's search noise (on `backend` when given)."""
    parts = [Part("teacher", method, questions, recipe.search_noise.p) for method in recipe.methods]
    return Plan("generate", parts, models={"teacher": backend} if backend is not None else {})


def generate(recipe: Recipe, store: Store, progress: ProgressFn | None = None,
             backend: Backend | None = None, cancel: threading.Event | None = None) -> StageResult:
    """Run teacher x task mix x methods into the recipe's generate run, stopped by cancel or the teacher's cost
    cap (`teacher.max_cost_usd`)."""
    plan = generation_plan(recipe, generation_questions(recipe), backend)
    return run_stage(StageContext(recipe, store, progress, cancel), "generate", plan, teacher=backend is None,
                     max_cost_usd=recipe.teacher.max_cost_usd)
