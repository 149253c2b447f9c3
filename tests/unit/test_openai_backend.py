"""OpenAIBackend against a scripted HTTP server that speaks the OpenAI wire format (tests/support/openai_server.py)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from studio.llm.base import Request
from studio.llm.openai_compat import PLACEHOLDER_KEY, BackendError, OpenAIBackend
from studio.recipe.schema import Teacher
from tests.support.openai_server import Call, Reply

NO_KEY_ENV = "STUDIO_TEST_UNSET_KEY"


@pytest.fixture
def backends():
    made: list[OpenAIBackend] = []

    def make(url: str, backoff_s: float = 0.01, **teacher: object) -> OpenAIBackend:
        spec = {"model": "test-model", "base_url": url, "api_key_env": NO_KEY_ENV, "api": "completions",
                "timeout_s": 5.0, "max_retries": 3, **teacher}
        backend = OpenAIBackend(Teacher(**spec), backoff_s=backoff_s)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def reqs(*prompts: str) -> list[Request]:
    return [Request(key=f"k{i}", prompt=p) for i, p in enumerate(prompts)]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(NO_KEY_ENV, raising=False)


# -- the wire format ---------------------------------------------------------------------------------


def test_completions_endpoint_sends_prompt_as_is(serve, backends):
    server = serve()
    backend = backends(server.url, api="completions", temperature=0.3)
    [out] = backend.generate(reqs("Question: 2+2?\nThought:"), stop=["\nObservation:"], max_tokens=50)
    assert out.error is None and out.text == "echo:Question: 2+2?\nThought:"
    [call] = server.calls
    assert call.path == "/v1/completions"
    assert call.payload["prompt"] == "Question: 2+2?\nThought:"
    assert call.payload["model"] == "test-model"
    assert call.payload["max_tokens"] == 50
    assert call.payload["temperature"] == 0.3
    assert call.payload["stop"] == ["\nObservation:"]
    assert call.headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert (out.tokens_in, out.tokens_out) == (7, 3)
    assert out.latency_s > 0
    assert backend.retries == 0


def test_chat_endpoint_sends_one_user_message(serve, backends):
    server = serve()
    backend = backends(server.url, api="chat")
    [out] = backend.generate(reqs("hello"), stop=[], max_tokens=20)
    assert out.error is None and out.text == "echo:hello"
    [call] = server.calls
    assert call.path == "/v1/chat/completions"
    assert call.payload["messages"] == [{"role": "user", "content": "hello"}]
    assert "stop" not in call.payload


def test_max_tokens_capped_by_recipe(serve, backends):
    server = serve()
    backend = backends(server.url, max_tokens=16)
    backend.generate(reqs("a"), stop=[], max_tokens=500)
    assert server.calls[0].payload["max_tokens"] == 16


def test_api_key_from_named_variable(serve, backends, monkeypatch):
    server = serve()
    monkeypatch.setenv("STUDIO_TEST_KEY", "sk-secret")
    backend = backends(server.url, api_key_env="STUDIO_TEST_KEY")
    backend.generate(reqs("a"), stop=[], max_tokens=5)
    assert server.calls[0].headers["authorization"] == "Bearer sk-secret"


def test_missing_key_for_remote_endpoint_is_a_clear_error():
    with pytest.raises(BackendError, match=NO_KEY_ENV):
        OpenAIBackend(Teacher(base_url="https://api.example.com/v1", api_key_env=NO_KEY_ENV))


def test_empty_request_list():
    backend = OpenAIBackend(Teacher(base_url="http://localhost:1/v1", api_key_env=NO_KEY_ENV))
    assert backend.generate([], stop=[], max_tokens=5) == []
    backend.close()


# -- retries -----------------------------------------------------------------------------------------


def test_429_honours_retry_after_then_succeeds(serve, backends):
    def script(call: Call) -> Reply:
        if call.attempt == 0:
            return Reply(429, {"error": {"message": "Rate limit", "type": "requests"}}, {"Retry-After": "0.3"})
        return Reply()

    server = serve(script)
    backend = backends(server.url, backoff_s=5.0)  # our own backoff would take seconds: Retry-After wins
    t0 = time.perf_counter()
    [out] = backend.generate(reqs("q"), stop=[], max_tokens=5)
    elapsed = time.perf_counter() - t0
    assert out.error is None and out.text == "echo:q"
    assert backend.retries == 1 and server.attempts("q") == 2
    assert out.latency_s >= 0.3 and elapsed < 2.5  # latency includes the wait before the retry


def test_5xx_until_retries_exhausted_fails_one_request_only(serve, backends):
    def script(call: Call) -> Reply:
        if call.prompt == "bad":
            return Reply(500, {"error": {"message": "boom", "type": "server_error"}})
        return Reply()

    server = serve(script)
    backend = backends(server.url, max_retries=2)
    outs = backend.generate(reqs("a", "bad", "c"), stop=[], max_tokens=5)
    assert [o.text for o in outs] == ["echo:a", "", "echo:c"]
    assert outs[0].error is None and outs[2].error is None
    assert outs[1].error == "HTTP 500 after 2 retries"
    assert server.attempts("bad") == 3 and server.attempts("a") == 1
    assert backend.retries == 2 and backend.failures == 1


def test_timeout_is_retried(serve, backends):
    server = serve(lambda call: Reply(delay=2.0) if call.attempt == 0 else Reply())
    backend = backends(server.url, timeout_s=0.3)
    t0 = time.perf_counter()
    [out] = backend.generate(reqs("slow"), stop=[], max_tokens=5)
    assert out.error is None and out.text == "echo:slow"
    assert backend.retries == 1 and server.attempts("slow") == 2
    assert time.perf_counter() - t0 < 1.8
    assert out.latency_s >= 0.3


def test_timeout_every_time_gives_an_error(serve, backends):
    server = serve(lambda call: Reply(delay=1.0))
    backend = backends(server.url, timeout_s=0.2, max_retries=1)
    [out] = backend.generate(reqs("slow"), stop=[], max_tokens=5)
    assert out.text == "" and out.error == "timeout (0.2 s) after 1 retries"


@pytest.mark.parametrize(
    "bad",
    [
        Reply(body=b"{this is not json"),
        Reply(body=b"<html>Bad gateway</html>", headers={"Content-Type": "text/html"}),
        Reply(body={"object": "text_completion", "usage": {"prompt_tokens": 1, "completion_tokens": 1}}),
        Reply(body={"object": "text_completion", "choices": []}),
        Reply(body={"object": "text_completion", "choices": [{"index": 0, "finish_reason": "stop"}]}),
    ],
    ids=["invalid-json", "html", "no-choices", "empty-choices", "no-text"],
)
def test_malformed_reply_is_retried(serve, backends, bad):
    server = serve(lambda call: bad if call.attempt < 2 else Reply())
    backend = backends(server.url, max_retries=3)
    [out] = backend.generate(reqs("m"), stop=[], max_tokens=5)
    assert out.error is None and out.text == "echo:m"
    assert backend.retries == 2


def test_malformed_reply_every_time_gives_an_error(serve, backends):
    server = serve(lambda call: Reply(body={"object": "chat.completion", "choices": [{"index": 0}]}))
    backend = backends(server.url, api="chat", max_retries=2)
    [out] = backend.generate(reqs("m"), stop=[], max_tokens=5)
    assert out.text == "" and out.error.startswith("malformed reply") and out.error.endswith("after 2 retries")
    assert server.attempts("m") == 3


def test_client_error_is_not_retried(serve, backends):
    server = serve(lambda call: Reply(401, {"error": {"message": "Incorrect API key", "type": "invalid_request"}}))
    backend = backends(server.url)
    [out] = backend.generate(reqs("a"), stop=[], max_tokens=5)
    assert out.text == "" and out.error.startswith("HTTP 401") and "Incorrect API key" in out.error
    assert backend.retries == 0 and server.attempts("a") == 1


def test_a_key_quoted_in_an_error_is_scrubbed(serve, backends, monkeypatch):
    key = "sk-proj-PLANTED0123456789abcdef"
    monkeypatch.setenv(NO_KEY_ENV, key)
    message = f"Incorrect API key provided: {key}. Header was Bearer {key[::-1]}"
    server = serve(lambda call: Reply(401, {"error": {"message": message, "type": "invalid_request"}}))
    [out] = backends(server.url).generate(reqs("a"), stop=[], max_tokens=5)
    assert out.error.startswith("HTTP 401") and "Incorrect API key provided: [redacted]" in out.error
    assert key not in out.error and key[::-1] not in out.error and "Bearer [redacted]" in out.error


def test_connection_error_is_retried_then_reported(backends):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = backends(f"http://127.0.0.1:{port}/v1", max_retries=2)
    [out] = backend.generate(reqs("a"), stop=[], max_tokens=5)
    assert out.text == "" and out.error.startswith("connection error") and out.error.endswith("after 2 retries")
    assert backend.retries == 2


def test_unsupported_stop_parameter_is_dropped(serve, backends):
    def script(call: Call) -> Reply:
        if "stop" in call.payload:
            error = {"message": "Unsupported parameter: 'stop'", "type": "invalid_request_error", "param": "stop"}
            return Reply(400, {"error": error})
        return Reply(text="Thought: a\nObservation: b")

    server = serve(script)
    backend = backends(server.url, api="chat")
    outs = backend.generate(reqs("a", "b"), stop=["\nObservation:"], max_tokens=5)
    assert [o.text for o in outs] == ["Thought: a", "Thought: a"]  # still cut client-side
    assert "stop" not in server.calls[-1].payload
    assert backend.retries == 0


# -- stop strings, usage and cost ----------------------------------------------------------------------


def test_stop_applied_client_side_when_server_ignores_it(serve, backends):
    server = serve(lambda call: Reply(text="Thought: look it up\nAction: search[x]\nObservation: y"))
    backend = backends(server.url)
    stops = ["\nObservation:", "STOP1", "STOP2", "STOP3", "\nAction:"]
    [out] = backend.generate(reqs("q"), stop=stops, max_tokens=5)
    assert out.text == "Thought: look it up"  # cut at the 5th stop string, which was not sent
    assert server.calls[0].payload["stop"] == stops[:4]  # the API takes at most 4


def test_cost_from_usage_and_prices(serve, backends):
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    server = serve(lambda call: Reply(usage=usage))
    backend = backends(server.url, price_input_per_m=2.0, price_output_per_m=8.0)
    [out] = backend.generate(reqs("q"), stop=[], max_tokens=5)
    assert (out.tokens_in, out.tokens_out) == (1000, 500)
    assert out.cost == pytest.approx(1000 * 2.0 / 1e6 + 500 * 8.0 / 1e6)


def test_tokens_estimated_without_usage(serve, backends):
    server = serve(lambda call: Reply(text="x" * 20, usage=None))
    backend = backends(server.url, price_input_per_m=1.0, price_output_per_m=1.0)
    [out] = backend.generate(reqs("p" * 40), stop=[], max_tokens=5)
    assert (out.tokens_in, out.tokens_out) == (10, 5)
    assert out.cost == pytest.approx(15 / 1e6)


# -- concurrency and order ----------------------------------------------------------------------------


def test_concurrency_bound_and_request_order(serve, backends):
    # Later requests answer faster, so replies finish out of order.
    server = serve(lambda call: Reply(delay=0.05 + 0.03 * (10 - int(call.prompt[1:]))))
    backend = backends(server.url, concurrency=3)
    prompts = [f"p{i}" for i in range(10)]
    outs = backend.generate(reqs(*prompts), stop=[], max_tokens=5)
    assert [o.text for o in outs] == [f"echo:{p}" for p in prompts]
    assert 1 < server.max_inflight <= 3
    assert backend.requests == 10


def test_generate_inside_a_running_event_loop(serve, backends):
    server = serve()
    backend = backends(server.url)

    async def agent_step() -> list[str]:
        return [o.text for o in backend.generate(reqs("x", "y"), stop=[], max_tokens=5)]

    assert asyncio.run(agent_step()) == ["echo:x", "echo:y"]
    # and again afterwards, from plain synchronous code, on the same backend
    assert [o.text for o in backend.generate(reqs("z"), stop=[], max_tokens=5)] == ["echo:z"]


def test_release_is_a_no_op_and_close_is_idempotent(serve, backends):
    server = serve()
    backend = backends(server.url)
    backend.generate(reqs("a"), stop=[], max_tokens=5)
    backend.release("k0")
    backend.close()
    backend.close()
    # a closed backend starts a fresh loop when used again
    assert backend.generate(reqs("b"), stop=[], max_tokens=5)[0].text == "echo:b"
