"""The teacher path: any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, a hosted API).

`generate` (text completions) and `chat` (assistant turns with native tool calls) are synchronous for their
callers, but send every request concurrently (at most `teacher.concurrency` in flight) from a private event loop on
a background thread, so they work the same whether or not the calling thread already runs an event loop.

The retry policy is ours, not the SDK's (the SDK's own `max_retries` is 0), so retries are counted
and reported: 408/409/429, 5xx, timeouts, connection errors and malformed replies (a body that is not
JSON, or one without `choices` or their text or calls) are retried with exponential backoff and jitter, honouring
`Retry-After` up to `MAX_RETRY_AFTER_S`. A request that still fails comes back as
`Completion(text="", error=...)` or `ChatReply(content="", error=...)`; a per-request failure never raises.

`teacher.base_url` may list several servers serving the same model (a fleet): each attempt goes to the live
server with the fewest requests in flight; one that refuses or drops a connection is dropped and the request
moves on to another at once (not counted as a retry); when every server is dropped, all are tried again with
the usual backoff. Every reply from a fleet names the server that answered it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlparse

import openai

from studio.errors import StudioError
from studio.llm.base import ChatReply, ChatRequest, Completion, Request, cut_at_stop
from studio.llm.openai_replies import MalformedReply, chat_reply, text_reply
from studio.recipe.schema import Teacher, servers
from studio.redact import scrub

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
PLACEHOLDER_KEY = "sk-local-no-key"
MAX_RETRY_AFTER_S = 60.0  # cap on a server's Retry-After
MAX_BACKOFF_S = 60.0  # cap on our own exponential backoff
OPENAI_MAX_STOP = 4  # the OpenAI API takes at most 4 stop strings; the rest are applied client-side only
CHARS_PER_TOKEN = 4  # rough estimate, used only when a reply has no `usage`
RETRY_STATUS = {408, 409, 429}

R = TypeVar("R", Completion, ChatReply)
Job = Callable[[openai.AsyncOpenAI], Awaitable[R]]  # one request, sent through the client of the server it went to


class BackendError(StudioError, RuntimeError):
    """The backend is misconfigured (for example, its API key variable is not set)."""


class _Failover(Exception):
    """The server an attempt went to is gone and another is live: try that one at once."""


class _Retryable(Exception):
    """One attempt failed in a way worth retrying; `reason` is short and goes into the final error."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def is_local_url(url: str) -> bool:
    return (urlparse(url).hostname or "").lower() in LOCAL_HOSTS


def resolve_api_key(teacher: Teacher, role: str = "teacher") -> str:
    """The key from the variable the recipe names; a placeholder for a local server that needs none. `role` is
    the recipe section the settings come from (the teacher, or a judge scorer), for the message."""
    if teacher.api_key_env is None:  # the declared endpoint needs no key: none is sent
        return PLACEHOLDER_KEY
    key = os.environ.get(teacher.api_key_env)
    if key:
        return key
    urls = servers(teacher.base_url)
    if all(is_local_url(url) for url in urls):
        return PLACEHOLDER_KEY
    raise BackendError(
        f"The {role}'s API key variable {teacher.api_key_env} is not set: export {teacher.api_key_env}=... "
        f"(needed for {', '.join(urls)}, as the studio's config declares)."
    )


def _retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (numeric or HTTP date), capped; None if absent."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError):
                continue
        if seconds != seconds:  # NaN
            continue
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    return None


def _count(usage: dict | None, field: str) -> int | None:
    value = usage.get(field) if usage else None
    return value if isinstance(value, int) and value >= 0 else None


@dataclass
class Server:
    """One server of the backend's fleet, with its own HTTP client."""

    url: str
    client: openai.AsyncOpenAI
    in_flight: int = 0
    dropped: bool = False


class OpenAIBackend:
    """A `Backend` and a `ChatModel` for an OpenAI-compatible endpoint, configured by the recipe's `Teacher` section.

    `backoff_s` is the first retry delay (doubled each retry, with jitter); tests make it small. `role` names the
    recipe section the settings come from, for a missing key's message (a judge scorer borrows the teacher's client).
    `self.retries` counts retries across all calls, for progress reports; `self.dropped` lists the servers
    dropped from the fleet, in order. Call `close()` (or use the backend as a context manager) to stop its
    event-loop thread; it is also stopped when the backend is garbage-collected or the interpreter exits.
    """

    def __init__(self, teacher: Teacher, *, backoff_s: float = 1.0, role: str = "teacher") -> None:
        self.teacher = teacher
        self.model = teacher.model
        self.backoff_s = backoff_s
        self.retries = 0
        self.requests = 0
        self.failures = 0
        self.dropped: list[str] = []
        self._api_key = resolve_api_key(teacher, role)
        self._send_stop = True  # dropped if the server rejects the `stop` parameter
        self._token_param = "max_tokens"  # switched to max_completion_tokens if the server asks for it
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[Server] = []
        self._semaphore: asyncio.Semaphore | None = None
        self._finalizer: weakref.finalize | None = None

    # -- the Backend and ChatModel protocols ---------------------------------------------------

    def generate(self, requests: list[Request], stop: list[str], max_tokens: int) -> list[Completion]:
        """One completion per request, in request order. `max_tokens` is capped at `teacher.max_tokens`."""
        max_tokens, stop = self._cap(max_tokens), list(stop)
        return self._run([partial(self._complete, request=r, stop=stop, max_tokens=max_tokens) for r in requests],
                         lambda error: Completion(text="", error=error))

    def chat(self, requests: list[ChatRequest], max_tokens: int) -> list[ChatReply]:
        """One assistant turn per request, in request order, on the chat endpoint whatever `teacher.api` says
        (tools exist only there). `max_tokens` is capped at `teacher.max_tokens`."""
        max_tokens = self._cap(max_tokens)
        return self._run([partial(self._chat_turn, request=r, max_tokens=max_tokens) for r in requests],
                         lambda error: ChatReply(content="", error=error))

    def release(self, key: str) -> None:
        """Nothing is kept per episode on a remote server."""

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._finalizer = self._loop = self._semaphore = None
            self._servers = []

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve_loop, args=(loop,), name="openai-backend", daemon=True)
                thread.start()
                self._servers = [Server(url, openai.AsyncOpenAI(
                    api_key=self._api_key,
                    base_url=url,
                    max_retries=0,  # the retry policy is ours, so that retries are counted
                    timeout=self.teacher.timeout_s,
                )) for url in servers(self.teacher.base_url)]
                self._loop = loop
                self._finalizer = weakref.finalize(self, _shutdown, loop, thread, [s.client for s in self._servers])
            return self._loop

    # -- the requests ----------------------------------------------------------------------------

    def _cap(self, max_tokens: int) -> int:
        return max(1, min(max_tokens, self.teacher.max_tokens))

    def _run(self, jobs: list[Job[R]], failed: Callable[[str], R]) -> list[R]:
        """Run each job (one request, sent to a server's client) with the retry policy, concurrently, from the
        backend's own loop; `failed` makes the result of a job that failed for good from its error."""
        if not jobs:
            return []
        loop = self._ensure_loop()
        future: Future = asyncio.run_coroutine_threadsafe(self._run_all(jobs, failed), loop)
        return future.result()

    async def _run_all(self, jobs: list[Job[R]], failed: Callable[[str], R]) -> list[R]:
        if self._semaphore is None:  # created here, on the backend's own loop
            self._semaphore = asyncio.Semaphore(self.teacher.concurrency)
        return list(await asyncio.gather(*(self._one(job, failed) for job in jobs)))

    async def _one(self, job: Job[R], failed: Callable[[str], R]) -> R:
        assert self._semaphore is not None
        async with self._semaphore:
            start = time.perf_counter()
            result = await self._with_retries(job, failed)
            result.latency_s = time.perf_counter() - start
        self.requests += 1
        if result.error:
            self.failures += 1
        return result

    async def _with_retries(self, job: Job[R], failed: Callable[[str], R]) -> R:
        max_retries = self.teacher.max_retries
        attempt = 0
        while True:
            try:
                return await self._attempt(job)
            except _Failover:
                continue
            except _Retryable as failure:
                if attempt >= max_retries:
                    return failed(scrub(f"{failure.reason} after {max_retries} retries", self._api_key))
                delay = failure.retry_after
                if delay is None:
                    delay = min(self.backoff_s * 2**attempt, MAX_BACKOFF_S) * random.uniform(0.5, 1.5)
                attempt += 1
                self.retries += 1
                await asyncio.sleep(delay)
            except openai.APIStatusError as e:  # other 4xx: retrying will not help
                return failed(f"HTTP {e.status_code}: {_short(e, secret=self._api_key)}")

    def _pick(self) -> Server:
        """The live server with the fewest requests in flight (the first listed of equals); when every one
        has been dropped, all are live again (a restarted server comes back)."""
        live = [s for s in self._servers if not s.dropped]
        if not live:
            for s in self._servers:
                s.dropped = False
            live = self._servers
        return min(live, key=lambda s: s.in_flight)

    def _lost(self, server: Server) -> bool:
        """Drop `server` after a connection failure; whether another server is live to take the request."""
        if len(self._servers) == 1:
            return False
        if not server.dropped:
            server.dropped = True
            self.dropped.append(server.url)
        return any(not s.dropped for s in self._servers)

    async def _attempt(self, job: Job[R]) -> R:
        server = self._pick()
        server.in_flight += 1
        try:
            result = await job(server.client)
        except openai.APIConnectionError as e:
            if self._lost(server):  # refused or cut off (a timeout is raised as _Retryable before this)
                raise _Failover from None
            raise _Retryable(f"connection error ({_short(e, secret=self._api_key)})") from None
        except MalformedReply as e:
            raise _Retryable(str(e)) from None
        finally:
            server.in_flight -= 1
        if len(self._servers) > 1:  # one server is named in the recipe already
            result.server = server.url
        return result

    async def _post(self, client: openai.AsyncOpenAI, chat: bool, content: dict[str, Any], max_tokens: int,
                    stop: list[str]) -> bytes:
        """One attempt's raw reply body: `content` (the prompt, or the messages and tools) with the recipe's
        settings; HTTP failures worth retrying raised as `_Retryable`."""
        teacher = self.teacher
        params: dict[str, Any] = {"model": teacher.model, "temperature": teacher.temperature, **content}
        params[self._token_param] = max_tokens
        if stop and self._send_stop:
            params["stop"] = stop[:OPENAI_MAX_STOP]
        endpoint = client.chat.completions if chat else client.completions
        try:
            async with asyncio.timeout(teacher.timeout_s):
                raw = await endpoint.with_raw_response.create(**params)
                return raw.http_response.content
        except (TimeoutError, openai.APITimeoutError):
            raise _Retryable(f"timeout ({teacher.timeout_s:g} s)") from None
        except openai.APIStatusError as e:
            status = e.status_code
            if status in RETRY_STATUS or status >= 500:
                raise _Retryable(f"HTTP {status}", _retry_after(e.response.headers)) from None
            if status == 400 and self._drop_unsupported(e, params):
                return await self._post(client, chat, content, max_tokens, stop)
            raise
        except openai.APIResponseValidationError as e:
            raise _Retryable(f"malformed reply ({_short(e, secret=self._api_key)})") from None

    async def _complete(self, client: openai.AsyncOpenAI, request: Request, stop: list[str],
                        max_tokens: int) -> Completion:
        chat = self.teacher.api == "chat"
        content = {"messages": [{"role": "user", "content": request.prompt}]} if chat else {"prompt": request.prompt}
        full_text, usage = text_reply(await self._post(client, chat, content, max_tokens, stop), chat)
        text, _ = cut_at_stop(full_text, stop)  # servers differ in whether (and how) they honour `stop`
        # Output is counted on the text the server sent, not the cut text: that is what was generated (and billed).
        tokens_in, tokens_out, cost = self._usage(usage, len(request.prompt), len(full_text))
        return Completion(text=text, tokens_in=tokens_in, tokens_out=tokens_out, cost=cost)

    async def _chat_turn(self, client: openai.AsyncOpenAI, request: ChatRequest, max_tokens: int) -> ChatReply:
        content: dict[str, Any] = {"messages": request.messages}
        if request.tools:  # an empty list is no tools (OpenAI refuses `tools: []`)
            content |= {"tools": request.tools, "tool_choice": "auto"}
        reply, usage = chat_reply(await self._post(client, True, content, max_tokens, []))
        sent = len(json.dumps(content, ensure_ascii=False))
        answered = len(reply.content) + sum(len(json.dumps(call["function"])) for call in reply.tool_calls)
        reply.tokens_in, reply.tokens_out, reply.cost = self._usage(usage, sent, answered)
        return reply

    def _usage(self, usage: dict | None, chars_in: int, chars_out: int) -> tuple[int, int, float]:
        """Tokens in and out from the reply's `usage` (estimated from the characters sent and received where it
        has none), and their cost at the recipe's prices."""
        tokens_in = _count(usage, "prompt_tokens")
        tokens_out = _count(usage, "completion_tokens")
        if tokens_in is None:
            tokens_in = max(1, round(chars_in / CHARS_PER_TOKEN))
        if tokens_out is None:
            tokens_out = round(chars_out / CHARS_PER_TOKEN)
        teacher = self.teacher
        return tokens_in, tokens_out, (tokens_in * teacher.price_input_per_m
                                       + tokens_out * teacher.price_output_per_m) / 1_000_000

    def _drop_unsupported(self, error: openai.APIStatusError, sent: dict[str, Any]) -> bool:
        """Some models reject `stop` or `max_tokens` (OpenAI's reasoning models): stop sending it and retry
        (not counted as a retry). Decided on what this attempt sent, since requests run concurrently."""
        param = getattr(error, "param", None) or ""
        if param == "stop" and "stop" in sent:
            self._send_stop = False  # stop strings are still applied client-side
            return True
        if param == "max_tokens" and "max_tokens" in sent:
            self._token_param = "max_completion_tokens"
            return True
        return False


def _short(error: Exception, limit: int = 160, secret: str | None = None) -> str:
    """The error's message on one line, secrets scrubbed before it is cut (a cut key would escape the scrub)."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    message = scrub(" ".join(str(message).split()), secret)
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _serve_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread, clients: list[openai.AsyncOpenAI]) -> None:
    """Close the HTTP clients on their own loop, then stop the loop and its thread."""
    if loop.is_closed():
        return
    for client in clients:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout=5)
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(timeout=5)
