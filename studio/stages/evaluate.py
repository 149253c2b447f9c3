"""The evaluate stage: the prompted baseline, the fine-tuned agent and optionally the teacher answer the
same questions with the same tool; every episode is stored, and scores are read back with SQL."""

from __future__ import annotations

import contextlib
import threading

from storage import Store
from studio.llm.base import Backend
from studio.recipe.schema import Noise, Recipe
from studio.stages.runner import Environment, agent_backend, episode_runner, open_environment
from studio.stages.runs import EpisodeRun, ProgressFn, StageResult, check_keys, open_run, trained_adapter
from studio.tasks import Question, draw
from studio.trajectories.episode import episode_key


def evaluate(recipe: Recipe, store: Store, progress: ProgressFn | None = None,
             backends: dict[str, Backend] | None = None, cancel: threading.Event | None = None,
             round: int = 0) -> StageResult:
    """Run every (agent, method, noise level) of the recipe on its evaluation sets into one run. A
    self-improvement round (`round` > 0) evaluates only its own fine-tuned agent: the others do not change."""
    ev = recipe.evaluation
    agents = ev.agents if not round else ["finetuned"]
    questions: list[Question] = [q for s in ev.sets
                                 for q in draw(s.task, s.split, s.path, s.n, None, template=s.template)]
    adapter = trained_adapter(recipe, store, round) if "finetuned" in agents else None
    check_keys(recipe, store, "evaluate", teacher="teacher" in agents and "teacher" not in (backends or {}),
               round=round)
    with open_environment(recipe, store) as env:
        run_id, _ = open_run(store, recipe, "evaluate", round, env.listing())
        return _evaluate(recipe, store, run_id, agents, questions, adapter, env, progress, backends, cancel, round)


def _evaluate(recipe: Recipe, store: Store, run_id: int, agents: list[str], questions: list[Question],
              adapter: str | None, env: Environment, progress: ProgressFn | None, backends: dict[str, Backend] | None,
              cancel: threading.Event | None, round: int) -> StageResult:
    ev = recipe.evaluation
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
                noisy = env.with_noise(Noise(p=noise, kind=ev.noise_kind, seed=recipe.search_noise.seed))
                episode_runner(recipe, agent, method, made[agent], noisy, noise=noise).run(todo, run.commit, cancel)

    return run.execute(work)
