"""Tool-calling trajectory files (OpenAI fine-tuning JSONL, ShareGPT/Hermes JSON or JSONL) read as `tools`-format
episodes, and training rows written back in those formats.

Unlike the ReAct text files, a malformed record here is skipped and reported with its file and line, never half
imported: public tool-calling sets are large and a few bad rows should not block the rest. A file where no record
is readable is an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.trajectories.conversation import RecordError
from studio.trajectories.episode import Episode, Step, detect_method, render_steps
from studio.trajectories.messages import AGENT_SYSTEM, answer_of, messages_from_steps, steps_from_messages
from studio.trajectories.openai_format import read_openai, to_openai
from studio.trajectories.schemas import string_params
from studio.trajectories.sharegpt_format import read_sharegpt, to_sharegpt

TOOL_FORMATS = ("openai", "sharegpt")
READERS: dict[str, Callable[[Any], tuple[list[dict], list[dict]]]] = {"openai": read_openai, "sharegpt": read_sharegpt}
WRITERS: dict[str, Callable[[list[dict], list[dict] | None], dict]] = {"openai": to_openai, "sharegpt": to_sharegpt}


@dataclass(frozen=True)
class Skipped:
    """A record left out of an import, where and why."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def _items(text: str, path: Path, array_items: Callable[[Path, str], list[tuple[int, Any]]],
           skipped: list[Skipped]) -> list[tuple[int, Any]]:
    """(line, record) of a JSON array file, or of each JSONL line (a line that is not JSON is skipped)."""
    if text.lstrip().startswith("["):
        return array_items(path, text)
    items = []
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            items.append((line, json.loads(raw)))
        except json.JSONDecodeError as exc:
            skipped.append(Skipped(path, line, f"invalid JSON: {exc.msg}"))
        except RecursionError:
            skipped.append(Skipped(path, line, "JSON nested too deeply to be a trajectory"))
    return items


def tools_episode(messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: str,
                  model: str | None) -> Episode:
    """A recorded conversation as a `tools` episode: the first user message is the question, the last assistant
    turn without calls the answer (none when the conversation ends on calls). No gold, so correctness is unknown."""
    question = next(m["content"] for m in messages if m["role"] == "user")
    steps = steps_from_messages(messages, string_params(tools))
    last = messages[-1] if messages[-1]["role"] == "assistant" else None
    prediction = answer_of(last["content"]) if last is not None and not last.get("tool_calls") else None
    return Episode(
        task=task, question_id=f"{task}-" + hashlib.sha1(question.encode()).hexdigest()[:12], question=question,
        method=detect_method(steps), agent="teacher", model=model, text=render_steps(steps), steps=steps,
        prediction=prediction, finished=prediction is not None, format="tools", messages=messages,
        offered_tools=tools,
    )


def read_tool_episodes(path: Path, text: str, fmt: str, task: str | None, model: str | None,
                       array_items: Callable[[Path, str], list[tuple[int, Any]]]) -> tuple[list[Episode],
                                                                                            list[Skipped]]:
    """Every readable record of an `openai` or `sharegpt` file as an episode, and the records skipped."""
    skipped: list[Skipped] = []
    episodes = []
    for line, item in _items(text, path, array_items, skipped):
        try:
            messages, tools = READERS[fmt](item)
        except RecordError as exc:
            skipped.append(Skipped(path, line, str(exc)))
            continue
        episodes.append(tools_episode(messages, tools, task or "custom", model))
    return episodes, skipped


def tool_record(row: dict[str, Any], fmt: str, run_tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored trajectory as one `openai` or `sharegpt` record: a `tools` episode's own messages and tools; a
    ReAct one converted (system AGENT_SYSTEM, each step a call), offered `run_tools` (its run's tool list)."""
    if row.get("format") == "tools" and row.get("messages"):
        return WRITERS[fmt](row["messages"], row.get("offered_tools"))
    steps = [Step(**s) if isinstance(s, dict) else s for s in row["steps"]]
    messages = messages_from_steps(row["question"], steps, string_params(run_tools), AGENT_SYSTEM)
    return WRITERS[fmt](messages, run_tools)
