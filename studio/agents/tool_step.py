"""The episode loop of the `tools` format: chat turns with native tool calls instead of ReAct text.

Every open episode sends its messages (and the tools offered) to the model at once; a turn with calls runs them
(all episodes' calls together, as the `react` loop does) and appends their results as `role: tool` messages; a turn
without calls ends the episode with its answer. Malformed calls (not JSON, no such tool, arguments that do not fit the
schema) are answered with the error, which the agent sees and the outcome counts as an invalid call. Each episode
keeps its own conversation in the training format (`AGENT_SYSTEM`, the question, its turns) and the steps derived
from it, so views, outcomes and the `react` format read it as they read any episode.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from studio.agents.loop import AgentSpec, OpenEpisodes, Scorer, account, call_tools, failure, own_score, score_episode
from studio.agents.tool_prompts import LAST_STEP, REFLECT, offers_tools, tools_prompt
from studio.llm.base import ChatModel, ChatReply, ChatRequest
from studio.tasks import Question
from studio.tools.toolbox import INVALID_CALL, Observation, Toolbox, text_params
from studio.trajectories.episode import Episode, Step, render_steps
from studio.trajectories.messages import AGENT_SYSTEM, answer_of, step_argument, thought_of


@dataclass
class _State:
    question: Question
    prompt: list[dict]  # the system message and any worked examples, before the question
    episode: Episode
    own: list[dict] = field(default_factory=list)  # the question and the agent's turns
    started: float = field(default_factory=time.perf_counter)

    def request(self, tools: list[dict] | None) -> ChatRequest:
        return ChatRequest(self.episode.key, self.prompt + self.own, tools)


@dataclass(frozen=True)
class _Call:
    state: _State
    call_id: str
    name: str
    arguments: str
    thought: str
    refused: Observation | None = None  # the answer to a call that is not run: of no tool, or unreadable
    unreadable: bool = False  # a call the template's parser could not read: it has no id to answer


class ToolCallRunner(OpenEpisodes):
    """Runs questions through one agent on one chat model; `in_flight` episodes advance together."""

    def __init__(self, model: ChatModel, tools: Toolbox, spec: AgentSpec, *,
                 in_flight: int = 16, noise: float = 0.0, price_per_hour: float = 0.0, scorer: Scorer = own_score,
                 examples: Mapping[str, str] | None = None, on_step: Callable[[Episode], None] | None = None):
        """As `EpisodeRunner`: model time is shared out among the episodes a call served; `on_step` sees each open
        episode after every model call."""
        self.model, self.tools, self.spec, self.on_step, self.scorer = model, tools, spec, on_step, scorer
        self.in_flight, self.noise, self.examples = in_flight, noise, examples or {}
        self.price_per_s = price_per_hour / 3600
        self.offered = [s.function() for s in tools.specs] if offers_tools(spec.method) else None
        self.params = text_params(tools.specs)
        self.by_lower = {name.lower(): name for name in tools.names}

    def _start(self, q: Question) -> _State:
        spec = self.spec
        episode = Episode(task=q.task, split=q.split, question_id=q.id, question=q.question, gold=q.answer,
                          method=spec.method, agent=spec.agent, model=self.model.model, tool=self.tools.label,
                          noise=self.noise, format="tools", offered_tools=self.offered)
        prompt = tools_prompt(q.task, spec.method, spec.k, spec.seed, spec.instructions, self.tools.specs,
                              self.examples.get(q.source or ""))
        return _State(q, prompt, episode, [{"role": "user", "content": q.question}])

    def _release(self, key: str) -> None:
        self.model.release(key)

    def _step(self, active: list[_State], pool: ThreadPoolExecutor) -> None:
        """One model call for every open episode, then every call they made."""
        started = time.perf_counter()
        replies = self.model.chat([s.request(self.offered) for s in active], self.spec.max_tokens)
        share = (time.perf_counter() - started) / len(active)
        calls: list[_Call] = []
        for state, reply in zip(active, replies, strict=True):
            state.episode.compute_s += share
            state.episode.cost += share * self.price_per_s
            calls += self._take(state, reply)
        run = [c for c in calls if c.refused is None]
        results = dict(zip(map(id, run), call_tools(self.tools, [(c.name, c.arguments) for c in run], pool,
                                                    native=True), strict=True))
        for call in calls:  # answered in the order they were made
            self._observe(call, call.refused or results[id(call)])
        for state in active:
            if state.episode.prediction is None and not state.episode.error:
                self._next(state)
            state.episode.messages = [{"role": "system", "content": AGENT_SYSTEM}, *state.own]
            if self.on_step is not None:
                self.on_step(state.episode)

    def _take(self, state: _State, reply: ChatReply) -> list[_Call]:
        """Take in the model's turn; returns the calls to run (unknown tools are answered here)."""
        ep = state.episode
        account(ep, reply)
        if reply.error:
            ep.error = reply.error
            return []
        content = reply.content.strip()
        turn: dict = {"role": "assistant", "content": content}
        if self.offered is None or not (reply.tool_calls or reply.malformed) or self._out_of_steps(state):
            state.own.append(turn)
            answer = answer_of(content)
            ep.steps.append(Step(thought_of(content), "finish", answer))
            ep.prediction, ep.finished = answer, not (reply.tool_calls or reply.malformed)
            return []
        turn["tool_calls"] = reply.tool_calls
        state.own.append(turn)
        thoughts = iter([content])  # the turn's content is the thought of its first step
        calls = []
        for call in reply.tool_calls:
            function = call.get("function") or {}
            name, arguments = str(function.get("name") or ""), function.get("arguments") or ""
            if not isinstance(arguments, str):  # some servers send the object itself
                arguments = json.dumps(arguments)
            thought = next(thoughts, "")
            found = self.by_lower.get(name.lower())
            refused = None if found else Observation(
                f"Invalid call: there is no tool {name!r}; the tools are {', '.join(self.tools.names)}.", INVALID_CALL)
            calls.append(_Call(state, call.get("id", ""), found or name, arguments, thought, refused))
        for error in reply.malformed:
            refused = Observation(f"Invalid call: {error}", INVALID_CALL)
            calls.append(_Call(state, "", "invalid", "", next(thoughts, ""), refused, unreadable=True))
        return calls

    def _observe(self, call: _Call, result: Observation | Exception) -> None:
        if isinstance(result, Exception):
            call.state.episode.error = failure(call.name, result)
            return
        if call.unreadable:  # told as a user message: a tool message must answer a call id
            call.state.episode.steps.append(Step(call.thought, "invalid", "", result.text, result.status))
            call.state.own.append({"role": "user", "content": result.text})
            return
        argument = step_argument(call.arguments, self.params.get(call.name))
        self._answer(call.state, call.call_id, Step(call.thought, call.name, argument, result.text, result.status))

    def _answer(self, state: _State, call_id: str, step: Step) -> None:
        """A call's result, as the step the views show and the `role: tool` message the agent reads."""
        state.episode.steps.append(step)
        state.own.append({"role": "tool", "tool_call_id": call_id, "name": step.action, "content": step.observation})

    def _out_of_steps(self, state: _State) -> bool:
        return len(state.episode.steps) >= self.spec.max_steps

    def _next(self, state: _State) -> None:
        """What the agent is told before its next turn: a reflection cue, or that its steps ran out."""
        steps, spec = len(state.episode.steps), self.spec
        if self._out_of_steps(state):
            state.own.append({"role": "user", "content": LAST_STEP})
        elif spec.method == "reflexion" and steps == spec.reflect_after:
            state.own.append({"role": "user", "content": REFLECT.format(k=spec.reflect_after)})

    def _close(self, state: _State) -> Episode:
        ep = state.episode
        ep.latency_s = time.perf_counter() - state.started
        if ep.prediction is not None:
            score_episode(ep, self.scorer, state.question, lambda: calls_made(state.own))
        ep.text = render_steps(ep.steps)
        return ep


def calls_made(messages: list[dict]) -> list[dict]:
    """Every call of a conversation as {name, arguments} (arguments parsed where they are JSON), for scorers whose
    gold is the calls."""
    made = []
    for message in messages:
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            arguments = function.get("arguments")
            with contextlib.suppress(json.JSONDecodeError):
                arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
            made.append({"name": function.get("name"), "arguments": arguments})
    return made
