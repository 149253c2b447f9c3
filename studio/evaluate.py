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
from studio.stages import EpisodeRun, ProgressFn, StageResult, check_keys, open_run, trained_adapter
from studio.tasks import Question, draw
from studio.tools.search import Search


def agent_spec(recipe: Recipe, agent: str, method: str) -> AgentSpec:
    """How an agent is prompted in evaluation: the fine-tuned one zero-shot, the prompted student with the
    evaluation's few-shot settings, the teacher with its own."""
    ev = recipe.evaluation
    prompt = recipe.teacher if agent == "teacher" else ev
    return AgentSpec(method, agent, k=0 if agent == "finetuned" else prompt.few_shot_k,
                     instructions=prompt.instructions, seed=ev.few_shot_seed, max_steps=ev.max_steps,
                     reflect_after=ev.reflect_after, max_tokens=ev.max_tokens)


def evaluate(recipe: Recipe, store: Store, progress: ProgressFn | None = None,
             backends: dict[str, Backend] | None = None, cancel: threading.Event | None = None,
             round: int = 0) -> StageResult:
    """Run every (agent, method, noise level) of the recipe on its evaluation sets into one run. A
    self-improvement round (`round` > 0) evaluates only its own fine-tuned agent: the others do not change."""
    ev = recipe.evaluation
    agents = ev.agents if not round else ["finetuned"]
    questions: list[Question] = [q for s in ev.sets for q in draw(s.task, s.split, s.path, s.n, None)]
    adapter = trained_adapter(recipe, store, round) if "finetuned" in agents else None
    check_keys(recipe, store, "evaluate", teacher="teacher" in agents and "teacher" not in (backends or {}),
               round=round)
    run_id, _ = open_run(store, recipe, "evaluate", round)
    done = store.done_keys(run_id)
    plan = [
        (agent, method, noise, todo)
        for agent in agents for method in ev.methods for noise in ev.noise_levels
        if (todo := [q for q in questions
                     if episode_key(agent, method, q.task, q.split, q.id, noise) not in done])
    ]
    total = len(questions) * len(agents) * len(ev.methods) * len(ev.noise_levels)
    run = EpisodeRun(store, run_id, "evaluate", total, len(done), progress, round=round)
    made: dict[str, Backend] = dict(backends or {})

    def work() -> None:
        with contextlib.ExitStack() as engines:  # servers started for an agent stop when the stage ends
            for agent, method, noise, todo in plan:
                if agent not in made:
                    made[agent] = engines.enter_context(agent_backend(recipe, agent, adapter))
                search = Search(recipe.tool, store, Noise(p=noise, kind=ev.noise_kind, seed=recipe.tool.noise.seed))
                agent_runner(recipe, agent, method, made[agent], search, noise).run(todo, run.commit, cancel)

    return run.execute(work)


def agent_backend(recipe: Recipe, agent: str, adapter: str | None) -> contextlib.AbstractContextManager[Backend]:
    """The model behind an agent: the teacher's endpoint or engine, else the student on the evaluation's engine
    (with the adapter for the fine-tuned agent)."""
    if agent == "teacher":
        return open_teacher(recipe.teacher)
    return open_backend(recipe.evaluation.engine, recipe.student.model, adapter if agent == "finetuned" else None,
                        max_tokens=recipe.evaluation.max_tokens)


def agent_runner(recipe: Recipe, agent: str, method: str, model: Backend, search: Search,
                 noise: float = 0.0) -> EpisodeRunner:
    """An agent's episodes with one method: its prompt, how many go at once, and what its machine time costs
    (nothing for a remote teacher, whose price is per token)."""
    remote = agent == "teacher" and recipe.teacher.backend == "openai"
    return EpisodeRunner(model, search, agent_spec(recipe, agent, method), in_flight=in_flight(recipe, agent),
                         tool=recipe.tool.backend, noise=noise,
                         price_per_hour=0.0 if remote else recipe.evaluation.local_price_per_hour)


def in_flight(recipe: Recipe, agent: str) -> int:
    """Episodes an agent advances at once."""
    return teacher_in_flight(recipe.teacher) if agent == "teacher" else recipe.evaluation.engine.parallel
