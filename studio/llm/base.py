"""What the agent loop needs from a model, whichever backend serves it.

The loop hands a backend every unfinished episode's prompt at once; a local model advances them in
one batched generation, a remote one sends them concurrently. Failures come back per request, so one
bad reply fails one episode, not the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Request:
    """One generation: `key` identifies the episode across agent steps (a local backend may keep its
    KV cache per key, since each step's prompt extends the last one)."""

    key: str
    prompt: str


@dataclass
class Completion:
    """A model's reply to one request; `error` is set (and `text` empty) when it failed for good."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    error: str | None = None
    server: str | None = None  # the base URL that answered, where the backend spreads requests over a fleet


class Backend(Protocol):
    """A model the agents can talk to."""

    model: str

    def generate(self, requests: list[Request], stop: list[str], max_tokens: int) -> list[Completion]:
        """One completion per request, in order; text is cut before the first stop string."""
        ...

    def release(self, key: str) -> None:
        """The episode `key` is over: drop whatever state was kept for it."""
        ...


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


@dataclass
class ChatRequest:
    """One turn of a `tools`-format episode: its messages so far and the tools offered (OpenAI function schemas)."""

    key: str
    messages: list[dict]
    tools: list[dict] | None = None


@dataclass
class ChatReply:
    """An assistant turn: its content and `tool_calls` (OpenAI shape: id, type, function name and JSON arguments);
    `malformed` holds why each call that could not be read was refused (bad JSON, no name)."""

    content: str
    tool_calls: list[dict] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    error: str | None = None
    server: str | None = None


class ChatModel(Protocol):
    """A model that answers chat turns with tool calls: a remote API natively, a local model through its template."""

    model: str

    def chat(self, requests: list[ChatRequest], max_tokens: int) -> list[ChatReply]:
        """One reply per request, in order."""
        ...

    def release(self, key: str) -> None:
        ...
