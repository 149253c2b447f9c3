"""The tool-call step of the `tools` format: chat turns with native tool calls instead of ReAct text.

Every open episode sends its messages (and the tools offered) to the model at once; a turn with calls runs them
(all episodes' calls together, as the `react` loop does) and appends their results as `role: tool` messages; a turn
without calls ends the episode with its answer. Malformed calls (not JSON, no such tool, arguments that do not fit the
schema) are answered with the error, which the agent sees and the outcome counts as an invalid call. Each episode
keeps its own conversation in the training format (`AGENT_SYSTEM`, the question, its turns) and the steps derived
from it, so views, outcomes and the `react` format read it as they read any episode. The loop, the Episode, time
and cost sharing and the scoring are `loop.OpenEpisodes`'. Imports agents' tool_prompts and loop, llm, tools, tasks,
trajectories.
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from studio.agents.loop import AgentSpec, OpenEpisode, OpenEpisodes, account, call_tools, failure
from studio.agents.tool_prompts import LAST_STEP, REFLECT, offers_tools, tools_prompt
from studio.llm.base import ChatModel, ChatReply, ChatRequest
from studio.tasks import Question
from studio.tools.tool import text_params
from studio.tools.toolbox import INVALID_CALL, Observation, Toolbox
from studio.trajectories.episode import Episode, Step, render_steps
from studio.trajectories.messages import AGENT_SYSTEM, answer_of, step_argument, thought_of


@dataclass(kw_only=True)
class _State(OpenEpisode):
    prompt: list[dict]  # the system message and any worked examples, before the question
    own: list[dict] = field(default_factory=list)  # the question and the agent's turns

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

    format = "tools"

    def __init__(self, model: ChatModel, tools: Toolbox, spec: AgentSpec, **options: Any):
        """`options`: `loop.RunOptions`."""
        super().__init__(model, tools, spec, **options)
        self.offered = [s.function() for s in tools.specs] if offers_tools(spec.method) else None
        self.params = text_params(tools.specs)

    def _start(self, q: Question, episode: Episode, examples: str | None) -> _State:
        spec = self.spec
        prompt = tools_prompt(q.task, spec.method, spec.k, spec.seed, spec.instructions, self.tools.specs, examples)
        return _State(question=q, prompt=prompt, episode=episode, own=[{"role": "user", "content": q.question}])

    def _step(self, active: list[_State], pool: ThreadPoolExecutor) -> None:
        """One model call for every open episode, then every call they made."""
        replies = self._timed(active, partial(self.model.chat, [s.request(self.offered) for s in active],
                                              self.spec.max_tokens))
        calls: list[_Call] = []
        for state, reply in zip(active, replies, strict=True):
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
        self._seen(active)

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

    def _calls(self, state: _State) -> list[dict]:
        return calls_made(state.own)

    def _text(self, state: _State) -> str:
        return render_steps(state.episode.steps)


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
