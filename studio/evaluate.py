"""The evaluate stage: the prompted baseline, the fine-tuned agent and optionally the teacher answer the
same questions with the same tool; every episode is stored, and scores are read back with SQL."""

from __future__ import annotations

import contextlib
import threading

from storage import Store
from studio.agents.loop import AgentSpec, EpisodeRunner
from studio.agents.trajectory import episode_key
from studio.llm.base import Backend
from studio.llm.engines import open_backend, open_teacher, teacher_in_flight
from studio.recipe import Noise, Recipe
from studio.stages import EpisodeRun, ProgressFn, StageError, StageResult, check_keys, fingerprint, open_run
from studio.tasks import Question, draw
from studio.tools.search import Search


def trained_adapter(recipe: Recipe, store: Store) -> str:
    """The adapter of the recipe's finished train run."""
    found = store.find_run(recipe.name, "train", fingerprint(recipe, "train"))
    if found is None or found["status"] != "done" or not found["artifact"]:
        raise StageError(f"recipe {recipe.name!r} has no trained adapter yet: run its train stage first")
    return found["artifact"]


def agent_spec(recipe: Recipe, agent: str, method: str) -> AgentSpec:
    """How an agent is prompted in evaluation: the fine-tuned one zero-shot, the prompted student with the
    evaluation's few-shot settings, the teacher with its own."""
    ev = recipe.evaluation
    prompt = recipe.teacher if agent == "teacher" else ev
    return AgentSpec(method, agent, k=0 if agent == "finetuned" else prompt.few_shot_k,
                     instructions=prompt.instructions, seed=ev.few_shot_seed, max_steps=ev.max_steps,
                     reflect_after=ev.reflect_after, max_tokens=ev.max_tokens)


def evaluate(recipe: Recipe, store: Store, progress: ProgressFn | None = None,
             backends: dict[str, Backend] | None = None, cancel: threading.Event | None = None) -> StageResult:
    """Run every (agent, method, noise level) of the recipe on its evaluation sets into one run."""
    ev = recipe.evaluation
    questions: list[Question] = [q for s in ev.sets for q in draw(s.task, s.split, s.path, s.n, None)]
    adapter = trained_adapter(recipe, store) if "finetuned" in ev.agents else None
    check_keys(recipe, store, "evaluate", teacher="teacher" in ev.agents and "teacher" not in (backends or {}))
    run_id, _ = open_run(store, recipe, "evaluate")
    done = store.done_keys(run_id)
    plan = [
        (agent, method, noise, todo)
        for agent in ev.agents for method in ev.methods for noise in ev.noise_levels
        if (todo := [q for q in questions
                     if episode_key(agent, method, q.task, q.split, q.id, noise) not in done])
    ]
    total = len(questions) * len(ev.agents) * len(ev.methods) * len(ev.noise_levels)
    run = EpisodeRun(store, run_id, "evaluate", total, len(done), progress)
    made: dict[str, Backend] = dict(backends or {})

    def work() -> None:
        with contextlib.ExitStack() as engines:  # servers started for an agent stop when the stage ends
            for agent, method, noise, todo in plan:
                if agent not in made:
                    made[agent] = engines.enter_context(agent_backend(recipe, agent, adapter))
                remote = agent == "teacher" and recipe.teacher.backend == "openai"
                spec = agent_spec(recipe, agent, method)
                search = Search(recipe.tool, store, Noise(p=noise, kind=ev.noise_kind, seed=recipe.tool.noise.seed))
                runner = EpisodeRunner(made[agent], search, spec, in_flight=in_flight(recipe, agent),
                                       tool=recipe.tool.backend, noise=noise,
                                       price_per_hour=0.0 if remote else ev.local_price_per_hour)
                runner.run(todo, run.commit, cancel)

    return run.execute(work)


def agent_backend(recipe: Recipe, agent: str, adapter: str | None) -> contextlib.AbstractContextManager[Backend]:
    """The model behind an agent: the teacher's endpoint or engine, else the student on the evaluation's engine
    (with the adapter for the fine-tuned agent)."""
    if agent == "teacher":
        return open_teacher(recipe.teacher)
    return open_backend(recipe.evaluation.engine, recipe.student.model, adapter if agent == "finetuned" else None,
                        max_tokens=recipe.evaluation.max_tokens)


def in_flight(recipe: Recipe, agent: str) -> int:
    """Episodes an agent advances at once."""
    return teacher_in_flight(recipe.teacher) if agent == "teacher" else recipe.evaluation.engine.parallel
