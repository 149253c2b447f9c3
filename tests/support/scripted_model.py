"""A scripted in-process model: its reply is a function of the prompt, and it records every batch it was given, so
a test pins what an agent loop sends and reads without a real model."""

from __future__ import annotations

from collections.abc import Callable

from studio.llm.base import Completion, Request, cut_at_stop


class Scripted:
    """A model whose reply is a function of the prompt; records every batch it was given."""

    model = "scripted"

    def __init__(self, reply: Callable[[str], str | Completion]):
        self.reply, self.batches, self.released = reply, [], []

    def generate(self, requests: list[Request], stop: list[str], max_tokens: int) -> list[Completion]:
        self.batches.append([r.key for r in requests])
        out = []
        for r in requests:
            reply = self.reply(r.prompt)
            out.append(reply if isinstance(reply, Completion) else
                       Completion(cut_at_stop(reply, stop)[0], tokens_in=len(r.prompt) // 4, tokens_out=5))
        return out

    def release(self, key: str) -> None:
        self.released.append(key)
