"""A text-completion backend as a chat model with tools: the conversation rendered through the student's template,
completed to the end of the assistant's turn, its calls read back with the project's parser."""

from __future__ import annotations

from studio.llm.base import Backend, ChatReply, ChatRequest, Request
from studio.llm.chat_template import ChatTemplate, parse_reply
from studio.trajectories.messages import tool_call


class TemplateChat:
    """Chat turns over any `Backend` (llama.cpp, transformers, vLLM, a completions server): the same rendered text on
    every engine. Each turn's prompt extends the last, so a backend's per-episode cache keeps working."""

    def __init__(self, backend: Backend, template: ChatTemplate):
        self.backend, self.template, self.model = backend, template, backend.model

    def prompt(self, request: ChatRequest) -> str:
        return self.template.render(request.messages, request.tools, add_generation_prompt=True)

    def chat(self, requests: list[ChatRequest], max_tokens: int) -> list[ChatReply]:
        completions = self.backend.generate([Request(r.key, self.prompt(r)) for r in requests], self.template.stops,
                                            max_tokens)
        replies = []
        for request, completion in zip(requests, completions, strict=True):
            content, calls = parse_reply(completion.text)
            good = [c for c in calls if c.error is None]
            replies.append(ChatReply(
                content, [tool_call(f"call_{len(request.messages)}_{i}", c.name, c.arguments)
                          for i, c in enumerate(good)],
                [c.error for c in calls if c.error is not None], completion.tokens_in, completion.tokens_out,
                completion.latency_s, completion.cost, completion.error, completion.server))
        return replies

    def release(self, key: str) -> None:
        self.backend.release(key)
