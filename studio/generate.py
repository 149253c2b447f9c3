"""The generate stage: the teacher answers the recipe's task mix with each prompting method, and
every finished episode is committed at once; a rerun skips what is done and retries what failed."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from storage import Store
from studio.agents.loop import AgentSpec, EpisodeRunner
from studio.agents.trajectory import Episode, episode_key
from studio.llm.base import Backend
from studio.recipe import Recipe, Teacher
from studio.stages import Cancelled, Progress, ProgressFn, open_run
from studio.tasks import Question, draw, question_key
from studio.tools.search import Search


@dataclass
class StageResult:
    run_id: int
    total: int
    ran: int
    skipped: int
    failed: int
    correct: int
    cost: float

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        return (f"run {self.run_id}: {self.ran} episodes ran, {self.skipped} already done, {self.failed} failed, "
                f"{self.correct} correct, cost ${self.cost:.4f}")


def evaluation_questions(recipe: Recipe) -> list[Question]:
    """Every question the recipe evaluates on (generation never trains on them)."""
    return [q for s in recipe.evaluation.sets for q in draw(s.task, s.split, s.path, s.n, None)]


def generation_questions(recipe: Recipe) -> list[Question]:
    """The recipe's task mix, drawn with each entry's seed, evaluation questions left out."""
    exclude = frozenset(question_key(q.question) for q in evaluation_questions(recipe))
    return [q for t in recipe.tasks for q in draw(t.task, t.split, t.path, t.n, t.seed, exclude)]


def teacher_backend(teacher: Teacher) -> Backend:
    if teacher.backend == "local":
        from studio.llm.local import LocalBackend

        return LocalBackend(teacher.model)
    from studio.llm.openai_compat import OpenAIBackend

    return OpenAIBackend(teacher)


def generate(recipe: Recipe, store: Store, progress: ProgressFn | None = None,
             backend: Backend | None = None, cancel: threading.Event | None = None) -> StageResult:
    """Run teacher x task mix x methods into the recipe's generate run."""
    run_id, _ = open_run(store, recipe, "generate")
    questions = generation_questions(recipe)
    noise = recipe.tool.noise.p
    done = store.done_keys(run_id)
    plan = {
        method: [q for q in questions
                 if episode_key("teacher", method, q.task, q.split, q.id, noise) not in done]
        for method in recipe.methods
    }
    todo = sum(len(qs) for qs in plan.values())
    state = Progress("generate", total=todo, run_id=run_id)
    store.set_run_status(run_id, "running")
    if todo == 0:
        store.set_run_status(run_id, "done")
        return StageResult(run_id, len(questions) * len(recipe.methods), 0, len(done), 0, 0, 0.0)
    backend = backend or teacher_backend(recipe.teacher)
    search = Search(recipe.tool, store)

    def commit(episode: Episode) -> None:
        store.add_episode(run_id, episode)
        state.done += 1
        state.failed += episode.error is not None
        state.correct += bool(episode.correct)
        state.cost += episode.cost
        if progress:
            progress(state)

    teacher = recipe.teacher
    in_flight = teacher.concurrency if teacher.backend == "openai" else 16
    try:
        for method, qs in plan.items():
            spec = AgentSpec(method, "teacher", k=teacher.few_shot_k, max_steps=teacher.max_steps,
                             reflect_after=recipe.evaluation.reflect_after, max_tokens=teacher.max_tokens)
            runner = EpisodeRunner(backend, search, spec, in_flight=in_flight, tool=recipe.tool.backend, noise=noise)
            runner.run(qs, commit, cancel)
    except Cancelled:
        store.set_run_status(run_id, "cancelled", error="cancelled; rerun to resume")
        raise
    except BaseException as exc:
        store.set_run_status(run_id, "interrupted", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    store.set_run_status(run_id, "done" if state.failed == 0 else "failed",
                         error=f"{state.failed} episode(s) failed; rerun to retry them" if state.failed else None)
    return StageResult(run_id, len(questions) * len(recipe.methods), state.done, len(done), state.failed,
                       state.correct, state.cost)
