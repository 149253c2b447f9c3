"""The episode loop: every unfinished episode advances one agent step per model call, all together.

The loop does not know which backend it talks to: it hands the backend every open episode's prompt,
reads back Thought / Action text, calls the tool the action names and scores the final answer. Each episode is
handed to `on_episode` the moment it ends, so the caller can commit it at once.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from studio.agents.prompts import prompt_prefix, reflection
from studio.errors import Cancelled
from studio.llm.base import Backend, ChatReply, Completion, Request
from studio.llm.chat_template import ChatTemplate
from studio.tasks import Question, Score
from studio.tasks.scorers import task_score
from studio.tools.toolbox import Observation, Toolbox
from studio.trajectories.episode import Episode, Step, parse_call
from studio.trajectories.messages import call_arguments

STOP = ["\nObservation:", "\nQuestion:"]
ANSWER_STOP = ["]", "\n"]
Scorer = Callable[[Question, str], Score]


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
    the calls; the last step's observation says the reward, as in the paper's data."""
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


def invalid_message(tools: Toolbox) -> str:
    """What an agent sees after an action it cannot take, naming the ones it can."""
    forms = [f"{spec.name}[{spec.text_argument or 'arguments'}]" for spec in tools.specs] + ["finish[answer]"]
    return f"Invalid action. Valid actions are {', '.join(forms[:-1])} and {forms[-1]}."


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
class _Call:
    thought: str
    action: str
    argument: str


@dataclass
class _State:
    question: Question
    prefix: str
    episode: Episode
    scratch: str = ""  # the trajectory so far, as the model sees it
    cue: str = "Thought:"  # what the next model call continues from
    retried: bool = False
    started: float = field(default_factory=time.perf_counter)

    @property
    def request(self) -> Request:
        return Request(self.episode.key, self.prefix + self.scratch + self.cue)


def _thought_and_action(text: str) -> tuple[str, str | None]:
    """Split `' thought...\\nAction: x[y]'` into the thought and the action text (None if absent)."""
    head, sep, tail = text.partition("\nAction:")
    thought = head.strip().removeprefix("Thought:").strip()
    return (thought, tail.strip().split("\n")[0]) if sep else (thought, None)


class OpenEpisodes(ABC):
    """The loop both formats share: up to `in_flight` episodes open at once, each `_step` one model call for all of
    them (and their tool calls), a finished or failed episode handed on at once and replaced by the next question."""

    in_flight: int

    def run(self, questions: list[Question], on_episode: Callable[[Episode], None],
            cancel: StopSignal | None = None) -> None:
        """Answer every question; `on_episode` receives each finished (or failed) episode. A set `cancel`
        stops the run between model calls (raising Cancelled); episodes in flight are dropped."""
        waiting, active = list(reversed(questions)), []
        with ThreadPoolExecutor(self.in_flight, thread_name_prefix="tool-call") as pool:
            while waiting or active:
                if cancel is not None and cancel.is_set():
                    for state in active:
                        self._release(state.episode.key)
                    raise Cancelled("cancelled")
                while waiting and len(active) < self.in_flight:
                    active.append(self._start(waiting.pop()))
                self._step(active, pool)
                for state in [s for s in active if s.episode.prediction is not None or s.episode.error]:
                    active.remove(state)
                    self._release(state.episode.key)
                    on_episode(self._close(state))

    @abstractmethod
    def _start(self, q: Question) -> Any: ...

    @abstractmethod
    def _step(self, active: list[Any], pool: ThreadPoolExecutor) -> None: ...

    @abstractmethod
    def _release(self, key: str) -> None: ...

    @abstractmethod
    def _close(self, state: Any) -> Episode: ...


class EpisodeRunner(OpenEpisodes):
    """Runs questions through one agent on one backend; `in_flight` episodes advance together."""

    def __init__(self, backend: Backend, tools: Toolbox, spec: AgentSpec, *,
                 in_flight: int = 16, noise: float = 0.0, price_per_hour: float = 0.0, scorer: Scorer = own_score,
                 examples: Mapping[str, str] | None = None, on_step: Callable[[Episode], None] | None = None,
                 chat: ChatTemplate | None = None):
        """Each model call's wall time is shared out among the episodes it served (`compute_s`), so the
        episodes' times add up to the machine time used; `price_per_hour` turns that into cost. `examples` maps a
        custom file to the recorded trajectories that prompt its questions. `on_step` sees each open episode after
        every model call (the playground streams steps from it). `chat`: the student's template, when the prompt is
        its user turn and the trajectory its model turn (`student.prompt_format: chat`)."""
        self.backend, self.tools, self.spec, self.on_step, self.scorer = backend, tools, spec, on_step, scorer
        self.chat = chat
        self.stops = [*STOP, chat.end_of_turn] if chat is not None else STOP
        self.in_flight, self.noise, self.examples = in_flight, noise, examples or {}
        self.price_per_s = price_per_hour / 3600
        self.invalid = invalid_message(tools)
        self.by_lower = {name.lower(): name for name in tools.names}

    def _start(self, q: Question) -> _State:
        spec = self.spec
        episode = Episode(task=q.task, split=q.split, question_id=q.id, question=q.question, gold=q.answer,
                          method=spec.method, agent=spec.agent, model=self.backend.model, tool=self.tools.label,
                          noise=self.noise)
        prefix = prompt_prefix(q.task, spec.method, q.question, spec.k, spec.seed, spec.instructions, self.tools.specs,
                               self.examples.get(q.source or ""))
        if self.chat is not None:  # for k == 0 exactly what training rendered (`chat_prefix`)
            prefix = self.chat.render([{"role": "user", "content": prefix}], add_generation_prompt=True)
        state = _State(q, prefix, episode)
        if spec.method == "io":
            state.cue = "Action: finish["
        return state

    def _step(self, active: list[_State], pool: ThreadPoolExecutor) -> None:
        """One model call for the episodes that continue their trajectory, one for those asked for an answer."""
        for stop in (self.stops, ANSWER_STOP):
            group = [s for s in active if (s.cue.endswith("[")) == (stop is ANSWER_STOP)]
            if not group:
                continue
            started = time.perf_counter()
            completions = self.backend.generate([s.request for s in group], stop, self.spec.max_tokens)
            share = (time.perf_counter() - started) / len(group)
            calls: list[tuple[_State, _Call]] = []
            for state, completion in zip(group, completions, strict=True):
                state.episode.compute_s += share
                state.episode.cost += share * self.price_per_s
                call = self._advance(state, completion)
                if call is not None:
                    calls.append((state, call))
            for (state, call), result in zip(calls, self._call_tools([c for _, c in calls], pool), strict=True):
                self._observe(state, call, result)
            for state in group if self.on_step is not None else ():
                self.on_step(state.episode)

    def _release(self, key: str) -> None:
        self.backend.release(key)

    def _call_tools(self, calls: list[_Call], pool: ThreadPoolExecutor) -> list[Observation | Exception]:
        return call_tools(self.tools, [(c.action, c.argument) for c in calls], pool)

    # -- one step -------------------------------------------------------------------------------
    def _advance(self, state: _State, completion: Completion) -> _Call | None:
        """Take in the model's step; returns the tool call it made, to run with the other episodes' calls."""
        ep = state.episode
        account(ep, completion)
        if completion.error:
            ep.error = completion.error
            return None
        if state.cue.endswith("["):  # an answer was asked for directly (IO, forced finish, retry)
            self._finish(state, completion.text.strip(), natural=ep.method == "io")
            return None
        thought, action_text = _thought_and_action(state.cue.removeprefix("Thought:") + completion.text)
        name, argument = parse_call(action_text) if action_text is not None else ("", "")
        action = "finish" if name.lower() == "finish" else self.by_lower.get(name.lower(), "")
        if not action or (ep.method == "cot" and action != "finish"):
            ep.invalid_actions += 1
            if not state.retried:  # ask once more for just the action, after the same thought
                state.retried = True
                state.cue = f"Thought: {thought}\nAction:"
                return None
            self._record(state, Step(thought, "invalid", action_text or "", self.invalid))
        elif action == "finish":
            ep.steps.append(Step(thought, "finish", argument))
            state.scratch += f"Thought: {thought}\nAction: finish[{argument}]\n"
            self._finish(state, argument, natural=True)
            return None
        else:
            return _Call(thought, action, argument)
        self._next_cue(state)
        return None

    def _observe(self, state: _State, call: _Call, result: Observation | Exception) -> None:
        """The tool's answer becomes the step's observation; a search backend's failure, the episode's error."""
        if isinstance(result, Exception):
            state.episode.error = failure(call.action, result)
            return
        self._record(state, Step(call.thought, call.action, call.argument, result.text, result.status))
        self._next_cue(state)

    def _record(self, state: _State, step: Step) -> None:
        state.episode.steps.append(step)
        action = f"{step.action}[{step.argument}]" if step.action != "invalid" else step.argument
        state.scratch += f"Thought: {step.thought}\nAction: {action}\nObservation: {step.observation}\n"
        state.retried = False

    def _next_cue(self, state: _State) -> None:
        steps, spec = len(state.episode.steps), self.spec
        if spec.method == "cot" or steps >= spec.max_steps:
            state.cue = "Action: finish["  # forced finish: the agent must answer now
        elif spec.method == "reflexion" and steps == spec.reflect_after:
            state.cue = f"Thought: {reflection(spec.reflect_after)}"
        else:
            state.cue = "Thought:"

    def _finish(self, state: _State, answer: str, natural: bool) -> None:
        ep = state.episode
        if not natural or not ep.steps or ep.steps[-1].action != "finish":
            ep.steps.append(Step("", "finish", answer))
            state.scratch += f"Action: finish[{answer}]\n"
        ep.prediction = answer
        ep.finished = natural

    def _close(self, state: _State) -> Episode:
        ep = state.episode
        ep.latency_s = time.perf_counter() - state.started
        if ep.prediction is not None:
            score_episode(ep, self.scorer, state.question, lambda: [
                {"name": s.action, "arguments": json.loads(call_arguments(s.argument, self.tools.by_name[s.action]
                                                                          .text_argument))}
                for s in ep.steps if s.action in self.tools.by_name])
            state.scratch += f"Observation: {ep.steps[-1].observation}\n"
        ep.text = state.scratch
        return ep
