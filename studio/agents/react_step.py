"""The ReAct step: the prompt is text, the model continues it with Thought / Action lines, and the action names a
tool (`name[argument]`) or finishes. The loop, the Episode, time and cost sharing and the scoring are
`loop.OpenEpisodes`'; this module owns only what the `react` format does in one step. Imports agents' prompts and
loop, llm, tools, tasks, trajectories.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from studio.agents.loop import AgentSpec, OpenEpisode, OpenEpisodes, account, call_tools, failure
from studio.agents.prompts import prompt_prefix, reflection
from studio.llm.base import Backend, Completion, Request
from studio.llm.chat_template import ChatTemplate
from studio.tasks import Question
from studio.tools.toolbox import Observation, Toolbox
from studio.trajectories.episode import Episode, Step, parse_call
from studio.trajectories.messages import call_arguments

STOP = ["\nObservation:", "\nQuestion:"]
ANSWER_STOP = ["]", "\n"]


def invalid_message(tools: Toolbox) -> str:
    """What an agent sees after an action it cannot take, naming the ones it can."""
    forms = [f"{spec.name}[{spec.text_argument or 'arguments'}]" for spec in tools.specs] + ["finish[answer]"]
    return f"Invalid action. Valid actions are {', '.join(forms[:-1])} and {forms[-1]}."


@dataclass(frozen=True)
class _Call:
    thought: str
    action: str
    argument: str


@dataclass(kw_only=True)
class _State(OpenEpisode):
    prefix: str
    scratch: str = ""  # the trajectory so far, as the model sees it
    cue: str = "Thought:"  # what the next model call continues from
    retried: bool = False

    @property
    def request(self) -> Request:
        return Request(self.episode.key, self.prefix + self.scratch + self.cue)


def _thought_and_action(text: str) -> tuple[str, str | None]:
    """Split `' thought...\\nAction: x[y]'` into the thought and the action text (None if absent)."""
    head, sep, tail = text.partition("\nAction:")
    thought = head.strip().removeprefix("Thought:").strip()
    return (thought, tail.strip().split("\n")[0]) if sep else (thought, None)


class EpisodeRunner(OpenEpisodes):
    """Runs questions through one agent on one backend; `in_flight` episodes advance together."""

    def __init__(self, backend: Backend, tools: Toolbox, spec: AgentSpec, *, chat: ChatTemplate | None = None,
                 **options: Any):
        """`options`: `loop.RunOptions`. `chat`: the student's template, when the prompt is its user turn and the
        trajectory its model turn (`student.prompt_format: chat`)."""
        super().__init__(backend, tools, spec, **options)
        self.chat = chat
        self.stops = [*STOP, chat.end_of_turn] if chat is not None else STOP
        self.invalid = invalid_message(tools)

    def _start(self, q: Question, episode: Episode, examples: str | None) -> _State:
        spec = self.spec
        prefix = prompt_prefix(q.task, spec.method, q.question, spec.k, spec.seed, spec.instructions, self.tools.specs,
                               examples)
        if self.chat is not None:  # for k == 0 exactly what training rendered (`chat_prefix`)
            prefix = self.chat.render([{"role": "user", "content": prefix}], add_generation_prompt=True)
        state = _State(question=q, prefix=prefix, episode=episode)
        if spec.method == "io":
            state.cue = "Action: finish["
        return state

    def _step(self, active: list[_State], pool: ThreadPoolExecutor) -> None:
        """One model call for the episodes that continue their trajectory, one for those asked for an answer."""
        for stop in (self.stops, ANSWER_STOP):
            group = [s for s in active if (s.cue.endswith("[")) == (stop is ANSWER_STOP)]
            if not group:
                continue
            completions = self._timed(group, partial(self.model.generate, [s.request for s in group], stop,
                                                     self.spec.max_tokens))
            calls: list[tuple[_State, _Call]] = []
            for state, completion in zip(group, completions, strict=True):
                call = self._advance(state, completion)
                if call is not None:
                    calls.append((state, call))
            for (state, call), result in zip(calls, self._call_tools([c for _, c in calls], pool), strict=True):
                self._observe(state, call, result)
            self._seen(group)

    def _call_tools(self, calls: list[_Call], pool: ThreadPoolExecutor) -> list[Observation | Exception]:
        return call_tools(self.tools, [(c.action, c.argument) for c in calls], pool)

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

    def _calls(self, state: _State) -> list[dict]:
        return [{"name": s.action, "arguments": json.loads(call_arguments(s.argument, self.tools.by_name[s.action]
                                                                          .text_argument))}
                for s in state.episode.steps if s.action in self.tools.by_name]

    def _text(self, state: _State) -> str:
        """The trajectory as the model saw it, with the reward's observation when the episode was scored."""
        ep = state.episode
        return state.scratch + (f"Observation: {ep.steps[-1].observation}\n" if ep.prediction is not None else "")
