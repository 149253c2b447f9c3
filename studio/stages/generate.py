"""The generate stage: the teacher answers the recipe's task mix with each prompting method, and
every finished episode is committed at once; a rerun skips what is done and retries what failed."""

from __future__ import annotations

import contextlib
import threading

from storage import Store
from studio.llm.base import Backend
from studio.llm.engines import open_teacher
from studio.recipe.schema import Recipe
from studio.stages.runner import Environment, episode_runner, open_environment
from studio.stages.runs import EpisodeRun, ProgressFn, StageResult, check_keys, open_run
from studio.tasks import Question, draw, question_key
from studio.trajectories.episode import episode_key


def evaluation_questions(recipe: Recipe) -> list[Question]:
    """Every question the recipe evaluates on (generation never trains on them)."""
    return [q for s in recipe.evaluation.sets for q in draw(s.task, s.split, s.path, s.n, None, template=s.template)]


def generation_questions(recipe: Recipe) -> list[Question]:
    """The recipe's task mix, drawn with each entry's seed, evaluation questions left out."""
    exclude = frozenset(question_key(q.question) for q in evaluation_questions(recipe))
    return [q for t in recipe.tasks for q in draw(t.task, t.split, t.path, t.n, t.seed, exclude, t.template)]


def generate(recipe: Recipe, store: Store, progress: ProgressFn | None = None,
             backend: Backend | None = None, cancel: threading.Event | None = None) -> StageResult:
    """Run teacher x task mix x methods into the recipe's generate run."""
    questions = generation_questions(recipe)
    check_keys(recipe, store, "generate", teacher=backend is None)
    with open_environment(recipe, store) as env:
        return _generate(recipe, store, questions, env, progress, backend, cancel)


def _generate(recipe: Recipe, store: Store, questions: list[Question], env: Environment, progress: ProgressFn | None,
              backend: Backend | None, cancel: threading.Event | None) -> StageResult:
    run_id, _ = open_run(store, recipe, "generate", tools=env.listing())
    noise = recipe.search_noise.p
    done = store.done_keys(run_id)
    plan = {
        method: [q for q in questions
                 if episode_key("teacher", method, q.task, q.split, q.id, noise) not in done]
        for method in recipe.methods
    }
    total = len(questions) * len(recipe.methods)
    run = EpisodeRun(store, run_id, "generate", total, len(done), progress, recipe.teacher.max_cost_usd, cancel)
    if not any(plan.values()):
        return run.execute(lambda: None)

    def work() -> None:
        with contextlib.ExitStack() as stack:  # a server started for a local teacher stops with the stage
            model = backend or stack.enter_context(open_teacher(recipe.teacher))
            for method, qs in plan.items():
                episode_runner(recipe, "teacher", method, model, env, purpose="generate",
                               noise=noise).run(qs, run.commit, run)

    return run.execute(work)  # a teacher that fails to start leaves the run interrupted, with its reason
