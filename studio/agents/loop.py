"""The episode machinery both formats share: an agent's spec and run options, the loop that keeps `in_flight`
episodes open and advances them one model call at a time, the Episode each question opens, the model time and
cost shared out among the episodes a call served, the tool calls of a step, and the scoring of a finished episode.

The formats differ only in their step (`react_step`: ReAct text; `tool_step`: native tool calls): how a prompt is
built, what one model call does to the open episodes, which calls an episode made and its text. Each episode is
handed to `on_episode` the moment it ends, so the caller can commit it at once. Imports llm, tools, tasks,
trajectories.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from studio.errors import Cancelled
from studio.llm.base import ChatReply, Completion
from studio.scoring.exact import Score
from studio.scoring.kinds import task_score
from studio.tasks import Question
from studio.tools.toolbox import Observation, Toolbox
from studio.trajectories.episode import Episode

Scorer = Callable[[Question, str], Score]
Reply = TypeVar("Reply")


def own_score(question: Question, prediction: str) -> Score:
    """The question's task's own scoring (EM and F1; yes/no, choice letters, numbers where the task answers so)."""
    return task_score(question.task, prediction, question.answer)


def call_tools(tools: Toolbox, calls: list[tuple[str, str]], pool: ThreadPoolExecutor,
               native: bool = False) -> list[Observation | Exception]:
    """Every (tool, argument text) call a step's episodes made: MCP calls all at once over their servers' sessions,
    the built-in search (its cache is the store's one connection) one after another. A search backend's failure
    comes back as the exception, to fail its episode and not the run. `native`: the arguments are a tool call's
    JSON (the `tools` format)."""

    def one(call: tuple[str, str]) -> Observation | Exception:
        try:
            return tools.call_native(*call) if native else tools.call(*call)
        except Exception as exc:
            return exc

    futures = {i: pool.submit(one, c) for i, c in enumerate(calls) if tools.concurrent(c[0])}
    return [futures[i].result() if i in futures else one(c) for i, c in enumerate(calls)]


def wants_calls(scorer: Scorer, question: Question) -> bool:
    """Whether `question` is scored on the calls the agent made (a `tool_calls` scorer) rather than its answer."""
    per_question = getattr(scorer, "wants_calls", None)
    return per_question(question) if per_question is not None else getattr(scorer, "scores_calls", False)


def score_episode(episode: Episode, scorer: Scorer, question: Question, calls: Callable[[], list[dict]]) -> None:
    """Score a finished episode's answer into it, or its `calls()` ({name, arguments}) where the question's gold is
    the calls; the last step's observation says the reward, as in the paper's data. A question without gold (the
    Playground's free question) is not scored: no reward, and no scorer asked to compare against nothing."""
    if not question.answer:
        episode.steps[-1].observation = "Episode finished"
        return
    prediction = json.dumps(calls()) if wants_calls(scorer, question) else episode.prediction
    result = scorer(question, prediction)
    episode.em, episode.f1, episode.correct = result.em, result.f1, result.correct
    episode.cost += result.cost  # a judge's grading is part of what the episode cost
    if result.error:
        episode.error = f"scorer failed: {result.error}"
    episode.steps[-1].observation = f"Episode finished, reward = {result.correct}"


def account(episode: Episode, reply: Completion | ChatReply) -> None:
    """A model call's tokens, price and server, added to the episode that made it."""
    episode.tokens_in += reply.tokens_in
    episode.tokens_out += reply.tokens_out
    episode.cost += reply.cost
    if reply.server and reply.server not in (episode.served_by or "").split():
        episode.served_by = f"{episode.served_by} {reply.server}" if episode.served_by else reply.server


def failure(action: str, error: Exception) -> str:
    """The episode's error when a tool call raised (the built-in search's backend failed)."""
    return f"search failed: {error}" if action == "search" else f"tool failed: {action}: {error}"


class StopSignal(Protocol):
    """What stops a run between model calls: a threading.Event, or a stage's run (cancelled or capped)."""

    def is_set(self) -> bool: ...


@dataclass
class AgentSpec:
    """How one agent answers: the method, the prompt mode (k examples, 0 for zero-shot; with or without the
    method's instructions before them) and limits."""

    method: str
    agent: str
    k: int = 0
    instructions: bool = True
    max_steps: int = 8
    reflect_after: int = 5
    max_tokens: int = 160
    seed: int = 0


@dataclass(frozen=True)
class RunOptions:
    """What both formats' runners take besides the model, the tools and the spec, held once. Each model call's
    wall time is shared out among the episodes it served (`compute_s`), so the episodes' times add up to the
    machine time used; `price_per_hour` turns that into cost. `examples` maps a custom file to the recorded
    trajectories that prompt its questions. `on_step` sees each open episode after every model call (the
    playground streams steps from it)."""

    in_flight: int = 16
    noise: float = 0.0
    price_per_hour: float = 0.0
    scorer: Scorer = own_score
    examples: Mapping[str, str] | None = None
    on_step: Callable[[Episode], None] | None = None


@dataclass(kw_only=True)
class OpenEpisode:
    """One question's episode while it is open; each format's step keeps its own prompt state beside it."""

    question: Question
    episode: Episode
    started: float = field(default_factory=time.perf_counter)


class OpenEpisodes(ABC):
    """The loop both formats share: up to `in_flight` episodes open at once, each `_step` one model call for all of
    them (and their tool calls), a finished or failed episode handed on at once and replaced by the next question."""

    format = "react"  # the episodes' format

    def __init__(self, model: Any, tools: Toolbox, spec: AgentSpec, **options: Any):
        """`model` answers the format's requests (a Backend, or a ChatModel for the `tools` format); `options`
        are RunOptions' fields."""
        self.model, self.tools, self.spec = model, tools, spec
        self.options = RunOptions(**options)
        self.price_per_s = self.options.price_per_hour / 3600
        self.by_lower = {name.lower(): name for name in tools.names}
        self.offered: list[dict] | None = None  # the tools offered as function schemas (the `tools` format)

    def run(self, questions: list[Question], on_episode: Callable[[Episode], None],
            cancel: StopSignal | None = None) -> None:
        """Answer every question; `on_episode` receives each finished (or failed) episode. A set `cancel`
        stops the run between model calls (raising Cancelled); episodes in flight are dropped."""
        waiting, active = list(reversed(questions)), []
        in_flight = self.options.in_flight
        with ThreadPoolExecutor(in_flight, thread_name_prefix="tool-call") as pool:
            while waiting or active:
                if cancel is not None and cancel.is_set():
                    for state in active:
                        self.model.release(state.episode.key)
                    raise Cancelled("cancelled")
                while waiting and len(active) < in_flight:
                    active.append(self._open(waiting.pop()))
                self._step(active, pool)
                for state in [s for s in active if s.episode.prediction is not None or s.episode.error]:
                    active.remove(state)
                    self.model.release(state.episode.key)
                    on_episode(self._close(state))

    def _open(self, q: Question) -> Any:
        """The question's Episode, with what the agent is and runs on, and the format's prompt for it."""
        spec = self.spec
        episode = Episode(task=q.task, split=q.split, question_id=q.id, question=q.question, gold=q.answer,
                          method=spec.method, agent=spec.agent, model=self.model.model, tool=self.tools.label,
                          noise=self.options.noise, format=self.format, offered_tools=self.offered)
        return self._start(q, episode, (self.options.examples or {}).get(q.source or ""))

    def _timed(self, group: Sequence[OpenEpisode], call: Callable[[], list[Reply]]) -> list[Reply]:
        """One model call for `group`; its wall time (and what that costs) is shared out among its episodes."""
        started = time.perf_counter()
        replies = call()
        share = (time.perf_counter() - started) / len(group)
        for state in group:
            state.episode.compute_s += share
            state.episode.cost += share * self.price_per_s
        return replies

    def _seen(self, group: Sequence[OpenEpisode]) -> None:
        """Each episode of `group` shown to `on_step` after a model call."""
        for state in group if self.options.on_step is not None else ():
            self.options.on_step(state.episode)

    def _close(self, state: Any) -> Episode:
        """The ended episode with its latency, its score (when it answered) and its text."""
        ep = state.episode
        ep.latency_s = time.perf_counter() - state.started
        if ep.prediction is not None:
            score_episode(ep, self.options.scorer, state.question, lambda: self._calls(state))
        ep.text = self._text(state)
        return ep

    @abstractmethod
    def _start(self, q: Question, episode: Episode, examples: str | None) -> Any:
        """The open episode with the format's prompt (`examples`: the custom file's recorded trajectories)."""

    @abstractmethod
    def _step(self, active: list[Any], pool: ThreadPoolExecutor) -> None:
        """One model call for the open episodes, then the tool calls they made."""

    @abstractmethod
    def _calls(self, state: Any) -> list[dict]:
        """The calls the episode made, as {name, arguments}, for scorers whose gold is the calls."""

    @abstractmethod
    def _text(self, state: Any) -> str:
        """The finished episode's text, as stored."""
