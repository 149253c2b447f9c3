"""A scripted HTTP server that speaks the OpenAI wire format, for the tests of everything that calls one.

Each test scripts the server's replies (status, headers, body, delay) per request, and the server records what
it received and how many requests it had in flight at once. A chat reply may carry `tool_calls` (built with
`wire_call`), as OpenAI sends them: content null beside the calls unless the script gives text, arguments as the
JSON text the script wrote (bad JSON included). The `serve` fixture (conftest.py) starts them.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: dict | bytes | None = None  # None: a normal reply echoing the prompt
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    text: str | None = None  # text of a normal reply (default "echo:<prompt>")
    usage: dict | bool | None = True  # True: default usage; None/False: no usage field
    tool_calls: list[dict] | None = None  # a chat reply's calls; its content is null unless `text` is given


@dataclass
class Call:
    path: str
    payload: dict
    headers: dict[str, str]
    prompt: str
    attempt: int  # how many times this prompt was seen before


CALL_IDS = itertools.count()


def prompt_of(payload: dict) -> str:
    """The last message's content (a tool result, on a turn after calls), or the prompt."""
    if "messages" in payload:
        return str(payload["messages"][-1].get("content") or "")
    return payload.get("prompt", "")


def wire_call(name: str, arguments: dict | str, call_id: str | None = None) -> dict:
    """One entry of a reply's `tool_calls` as OpenAI sends it; `arguments` as text is sent as written (bad JSON
    included), an object as its JSON."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id or f"call_{next(CALL_IDS):04d}", "type": "function",
            "function": {"name": name, "arguments": text}}


def openai_body(path: str, payload: dict, text: str | None, usage: dict | None,
                tool_calls: list[dict] | None = None) -> dict:
    """A reply as OpenAI sends it, for `/v1/completions` or `/v1/chat/completions` (with `tool_calls`, if any)."""
    created = int(time.time())
    if path.endswith("/chat/completions"):
        message: dict = {"role": "assistant", "content": text, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        body = {
            "id": "chatcmpl-test", "object": "chat.completion", "created": created, "model": payload.get("model"),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if tool_calls else "stop"}],
        }
    else:
        body = {
            "id": "cmpl-test", "object": "text_completion", "created": created, "model": payload.get("model"),
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
        }
    if usage is not None:
        body["usage"] = usage
    return body


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Callable[[Call], Reply]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script
        self.calls: list[Call] = []
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        self.seen: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def attempts(self, prompt: str) -> int:
        return self.seen.get(prompt, 0)


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        prompt = prompt_of(payload)
        srv = self.server
        with srv.lock:
            attempt = srv.seen.get(prompt, 0)
            srv.seen[prompt] = attempt + 1
            call = Call(self.path, payload, {k.lower(): v for k, v in self.headers.items()}, prompt, attempt)
            srv.calls.append(call)
            srv.inflight += 1
            srv.max_inflight = max(srv.max_inflight, srv.inflight)
        try:
            reply = srv.script(call)
            if reply.delay:
                time.sleep(reply.delay)
            self._send(call, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): fine
        finally:
            with srv.lock:
                srv.inflight -= 1

    def _send(self, call: Call, reply: Reply) -> None:
        if reply.body is None:
            text = reply.text
            if text is None and not reply.tool_calls:
                text = f"echo:{call.prompt}"
            usage = reply.usage
            if usage is True:
                usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
            body = json.dumps(openai_body(self.path, call.payload, text, usage or None, reply.tool_calls)).encode()
        elif isinstance(reply.body, dict):
            body = json.dumps(reply.body).encode()
        else:
            body = reply.body
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
