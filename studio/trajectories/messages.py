"""Trajectories in the `tools` format: OpenAI chat messages (system, user, assistant with `tool_calls`, tool results),
and their conversion to and from steps, so one trajectory trains and shows in either format.

An assistant turn's content is the agent's thought; a turn without calls ends the episode, its answer on a last
line `Answer: ...` (the whole content when there is no such line).
"""

from __future__ import annotations

import json
import re
from typing import Any

from studio.trajectories.episode import Step

AGENT_SYSTEM = ("Answer the question. Think in your reply before each step, call the tools when you need them, and "
                "when you know the answer, end your reply with a last line `Answer: <answer>`.")
ANSWER_LINE = re.compile(r"^\s*(?:final\s+)?answer\s*:\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


def tool_call(call_id: str, name: str, arguments: str | dict[str, Any]) -> dict[str, Any]:
    """One entry of an assistant message's `tool_calls`; arguments as the JSON text the API carries."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def answer_of(content: str) -> str:
    """The answer a final assistant turn gives: its last `Answer:` line, else all of it."""
    found = ANSWER_LINE.findall(content or "")
    return found[-1] if found else (content or "").strip()


def thought_of(content: str) -> str:
    """A final turn's content before its `Answer:` line: the thought that led to the answer."""
    return ANSWER_LINE.split(content or "", maxsplit=1)[0].strip() if ANSWER_LINE.search(content or "") else ""


def final_content(thought: str, answer: str) -> str:
    """How a final assistant turn is written: the thought, then the answer on its own line."""
    return f"{thought}\nAnswer: {answer}" if thought else f"Answer: {answer}"


def call_arguments(argument: str, param: str | None) -> str:
    """A step's argument as a call's JSON arguments: kept when it is a JSON object, else given to the tool's one
    string parameter (`param`)."""
    text = argument.strip()
    if text.startswith("{"):
        try:
            if isinstance(json.loads(text), dict):
                return text
        except json.JSONDecodeError:
            pass
    return json.dumps({param or "input": argument}, ensure_ascii=False)


def step_argument(arguments: str, param: str | None) -> str:
    """A call's JSON arguments as a step's argument: the bare string for a one-string tool, else the JSON."""
    try:
        args = json.loads(arguments)
    except (json.JSONDecodeError, TypeError):
        return arguments if isinstance(arguments, str) else json.dumps(arguments)
    if isinstance(args, dict) and param is not None and list(args) == [param] and isinstance(args[param], str):
        return args[param]
    return arguments


def messages_from_steps(question: str, steps: list[Step], params: dict[str, str] | None = None,
                        system: str | None = None) -> list[dict[str, Any]]:
    """A ReAct trajectory as chat messages: each tool step an assistant turn (thought + call) and its result, the
    finish step the final turn. `params` maps a one-string tool to its parameter (default `query`)."""
    params = params or {}
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": question})
    for i, step in enumerate(steps):
        if step.action == "finish":
            messages.append({"role": "assistant", "content": final_content(step.thought, step.argument)})
            break
        if step.action in ("", "invalid"):
            messages.append({"role": "assistant", "content": f"{step.thought}\n{step.argument}".strip()})
            messages.append({"role": "user", "content": step.observation})
            continue
        call_id = f"call_{i}"
        arguments = call_arguments(step.argument, params.get(step.action, "query"))
        messages.append({"role": "assistant", "content": step.thought, "tool_calls": [
            tool_call(call_id, step.action, arguments)]})
        messages.append({"role": "tool", "tool_call_id": call_id, "name": step.action, "content": step.observation})
    return messages


def steps_from_messages(messages: list[dict[str, Any]], params: dict[str, str] | None = None) -> list[Step]:
    """Chat messages as steps (for the views, the outcome and the `react` format): one step per call, its result as
    the observation; the final turn a `finish` step."""
    params = params or {}
    steps: list[Step] = []
    by_id: dict[str, Step] = {}
    for message in messages:
        role, content = message.get("role"), message.get("content") or ""
        if role == "assistant" and message.get("tool_calls"):
            for n, call in enumerate(message["tool_calls"]):
                function = call.get("function", call)
                name = function.get("name", "")
                step = Step(content.strip() if n == 0 else "", name,
                            step_argument(function.get("arguments", ""), params.get(name)))
                steps.append(step)
                by_id[call.get("id") or f"#{len(by_id)}"] = step
        elif role == "assistant":
            steps.append(Step(thought_of(content), "finish", answer_of(content)))
        elif role == "tool":
            step = by_id.get(message.get("tool_call_id") or "") or next(
                (s for s in reversed(steps) if s.action not in ("finish", "invalid") and not s.observation), None)
            if step is not None:
                step.observation = content
        elif role == "user" and steps and not steps[-1].observation and steps[-1].action != "finish":
            steps[-1].observation = content  # a reply to a turn the agent could not act on
    return steps
