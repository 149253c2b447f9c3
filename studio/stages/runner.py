"""Every agent's episodes are run by one `EpisodeRunner` built here: generation, evaluation, the rounds'
exploration, the estimate's dry run and the playground differ only in the agent, the method, the model, the
tools and whether the teacher generates training data or is evaluated. The next tools plug in here."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Literal

from studio.agents.loop import AgentSpec, EpisodeRunner
from studio.llm.base import Backend
from studio.llm.engines import open_backend, open_teacher, teacher_in_flight
from studio.recipe.schema import Recipe
from studio.tools.toolbox import Toolbox
from studio.trajectories.episode import Episode

Purpose = Literal["generate", "evaluate"]


def agent_spec(recipe: Recipe, agent: str, method: str, purpose: Purpose = "evaluate") -> AgentSpec:
    """How an agent is prompted: the teacher generating training data with its own few-shot settings and limits;
    in evaluation the fine-tuned agent zero-shot, the prompted student with the evaluation's few-shot settings,
    the teacher with its own examples under the evaluation's limits."""
    ev, teacher = recipe.evaluation, recipe.teacher
    if purpose == "generate":
        return AgentSpec(method, "teacher", k=teacher.few_shot_k, instructions=teacher.instructions,
                         max_steps=teacher.max_steps, reflect_after=ev.reflect_after, max_tokens=teacher.max_tokens)
    prompt = teacher if agent == "teacher" else ev
    return AgentSpec(method, agent, k=0 if agent == "finetuned" else prompt.few_shot_k,
                     instructions=prompt.instructions, seed=ev.few_shot_seed, max_steps=ev.max_steps,
                     reflect_after=ev.reflect_after, max_tokens=ev.max_tokens)


def agent_backend(recipe: Recipe, agent: str, adapter: str | None,
                  temperature: float = 0.0) -> contextlib.AbstractContextManager[Backend]:
    """The model behind an agent: the teacher's endpoint or engine, else the student on the evaluation's engine
    (with the adapter for the fine-tuned agent), greedy unless a sampling `temperature` is given."""
    if agent == "teacher":
        return open_teacher(recipe.teacher)
    return open_backend(recipe.evaluation.engine, recipe.student.model, adapter if agent == "finetuned" else None,
                        max_tokens=recipe.evaluation.max_tokens, temperature=temperature)


def in_flight(recipe: Recipe, agent: str) -> int:
    """Episodes an agent advances at once."""
    return teacher_in_flight(recipe.teacher) if agent == "teacher" else recipe.evaluation.engine.parallel


def episode_runner(recipe: Recipe, agent: str, method: str, model: Backend, tools: Toolbox, *,
                   purpose: Purpose = "evaluate", noise: float = 0.0, one_at_a_time: bool = False,
                   on_step: Callable[[Episode], None] | None = None) -> EpisodeRunner:
    """An agent's episodes with one method on `model` and the recipe's tools: its prompt, how many go at once
    (`one_at_a_time` for a single question), and what its machine time costs (nothing for generation or a
    remote teacher, whose price is per token). `on_step` sees each open episode after every model call."""
    remote = agent == "teacher" and recipe.teacher.backend == "openai"
    price = 0.0 if remote or purpose == "generate" else recipe.evaluation.local_price_per_hour
    return EpisodeRunner(model, tools, agent_spec(recipe, agent, method, purpose),
                         in_flight=1 if one_at_a_time else in_flight(recipe, agent), noise=noise,
                         price_per_hour=price, on_step=on_step)
