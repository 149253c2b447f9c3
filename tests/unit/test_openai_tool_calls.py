"""OpenAIBackend.chat: native tool calling against the scripted OpenAI server (tests/support/openai_server.py) over
HTTP."""

from __future__ import annotations

import json

import pytest

from studio.llm.base import ChatRequest
from studio.llm.openai_compat import OpenAIBackend
from studio.recipe.schema import Teacher
from tests.support.openai_server import Call, Reply, wire_call

NO_KEY_ENV = "STUDIO_TEST_UNSET_KEY"
SEARCH = {"type": "function", "function": {
    "name": "search", "description": "Search Wikipedia.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
CALC = {"type": "function", "function": {
    "name": "calculate", "description": "Evaluate an arithmetic expression.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
TOOLS = [SEARCH, CALC]


@pytest.fixture
def teacher(serve, monkeypatch):
    """A backend over a scripted server: `teacher(script, **settings)` -> (backend, server)."""
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    made: list[OpenAIBackend] = []

    def make(script=lambda call: Reply(), **settings: object):
        server = serve(script)
        spec = {"model": "test-model", "base_url": server.url, "api_key_env": NO_KEY_ENV, "api": "completions",
                "timeout_s": 5.0, "max_retries": 2, **settings}
        made.append(OpenAIBackend(Teacher(**spec), backoff_s=0.01))
        return made[-1], server

    yield make
    for backend in made:
        backend.close()


def ask(question: str, tools: list[dict] | None = TOOLS) -> ChatRequest:
    return ChatRequest(key=question, messages=[{"role": "system", "content": "Answer."},
                                              {"role": "user", "content": question}], tools=tools)


def one_call(call: Call) -> Reply:
    return Reply(text="I should search.", tool_calls=[wire_call("search", {"query": "Paris"}, "call_a")])


def named(reply) -> list[tuple[str, str, str]]:
    return [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in reply.tool_calls]


# -- replies -------------------------------------------------------------------------------------------


def test_one_call_with_content(teacher):
    backend, server = teacher(one_call, temperature=0.2)
    [reply] = backend.chat([ask("Where is the Louvre?")], max_tokens=64)
    assert reply.error is None and reply.malformed == []
    assert reply.content == "I should search."
    assert reply.tool_calls == [{"id": "call_a", "type": "function",
                                 "function": {"name": "search", "arguments": '{"query": "Paris"}'}}]
    [call] = server.calls
    assert call.path == "/v1/chat/completions"  # the chat endpoint, though the recipe's `api` is completions
    assert call.payload["temperature"] == 0.2 and call.payload["max_tokens"] == 64
    assert call.payload["model"] == "test-model"


def test_two_calls_in_one_turn_in_order_with_null_content(teacher):
    calls = [wire_call("calculate", {"expression": "2+2"}, "c1"), wire_call("search", {"query": "x"}, "c2")]
    backend, _ = teacher(lambda call: Reply(tool_calls=calls))
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error is None and reply.content == ""  # content: null beside the calls
    assert named(reply) == [("c1", "calculate", '{"expression": "2+2"}'), ("c2", "search", '{"query": "x"}')]


def test_bad_json_arguments_and_unknown_tool_are_kept_as_sent(teacher):
    calls = [wire_call("search", '{"query": "Paris"', "c1"), wire_call("teleport", {"to": "Mars"}, "c2")]
    backend, _ = teacher(lambda call: Reply(text="Trying.", tool_calls=calls))
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error is None and reply.malformed == [] and backend.retries == 0
    assert named(reply) == [("c1", "search", '{"query": "Paris"'), ("c2", "teleport", '{"to": "Mars"}')]


def test_a_call_without_a_name_is_refused_beside_the_good_ones(teacher):
    calls = [{"id": "c1", "type": "function", "function": {"arguments": "{}"}}, wire_call("search", {"query": "x"})]
    backend, _ = teacher(lambda call: Reply(tool_calls=calls))
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error is None and reply.malformed == ["tool call 1 names no function"]
    assert [c["function"]["name"] for c in reply.tool_calls] == ["search"]


def test_final_turn_without_calls(teacher):
    backend, _ = teacher(lambda call: Reply(text="It is in Paris.\nAnswer: Paris"))
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error is None and reply.content == "It is in Paris.\nAnswer: Paris" and reply.tool_calls == []


def test_requests_answered_in_order(teacher):
    def script(call: Call) -> Reply:
        n = int(call.prompt[1:])
        return Reply(delay=0.02 * (5 - n), tool_calls=[wire_call("search", {"query": call.prompt}, f"id{n}")])

    backend, server = teacher(script, concurrency=5)
    replies = backend.chat([ask(f"q{i}") for i in range(5)], max_tokens=64)
    assert [r.tool_calls[0]["id"] for r in replies] == [f"id{i}" for i in range(5)]
    assert server.max_inflight > 1


# -- what was sent ------------------------------------------------------------------------------------------


def test_tools_tool_choice_and_tool_results_are_sent_as_they_are(teacher):
    backend, server = teacher(lambda call: Reply(text="Answer: 4"))
    messages = [
        {"role": "system", "content": "Answer."},
        {"role": "user", "content": "2+2, and where is the Louvre?"},
        {"role": "assistant", "content": "Two things.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "calculate", "arguments": '{"expression": "2+2"}'}},
            {"id": "c2", "type": "function", "function": {"name": "search", "arguments": '{"query": "Louvre"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "calculate", "content": "4"},
        {"role": "tool", "tool_call_id": "c2", "name": "search", "content": "The Louvre is in Paris."},
    ]
    [reply] = backend.chat([ChatRequest("k", messages, TOOLS)], max_tokens=64)
    assert reply.error is None and reply.content == "Answer: 4"
    [call] = server.calls
    assert call.payload["tools"] == TOOLS
    assert call.payload["tool_choice"] == "auto"
    assert call.payload["messages"] == messages
    assert [(m["tool_call_id"], m["content"]) for m in call.payload["messages"] if m["role"] == "tool"] == [
        ("c1", "4"), ("c2", "The Louvre is in Paris.")]


def test_no_tools_sends_neither_tools_nor_tool_choice(teacher):
    backend, server = teacher()
    [reply] = backend.chat([ask("hello", tools=None)], max_tokens=8)
    assert reply.content == "echo:hello"
    assert "tools" not in server.calls[0].payload and "tool_choice" not in server.calls[0].payload


def test_max_tokens_capped_by_recipe(teacher):
    backend, server = teacher(one_call, max_tokens=16)
    backend.chat([ask("q")], max_tokens=500)
    assert server.calls[0].payload["max_tokens"] == 16


# -- failures --------------------------------------------------------------------------------------------


def test_429_with_retry_after_then_calls(teacher):
    def script(call: Call) -> Reply:
        if call.attempt == 0:
            return Reply(429, {"error": {"message": "Rate limit", "type": "requests"}}, {"Retry-After": "0.05"})
        return one_call(call)

    backend, server = teacher(script)
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error is None and named(reply) == [("call_a", "search", '{"query": "Paris"}')]
    assert backend.retries == 1 and server.attempts("q") == 2
    assert all(c.payload["tools"] == TOOLS for c in server.calls)  # the retry carries the tools too


def test_timeout_then_calls(teacher):
    backend, server = teacher(lambda call: Reply(delay=1.0) if call.attempt == 0 else one_call(call), timeout_s=0.2)
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error is None and reply.tool_calls[0]["function"]["name"] == "search"
    assert backend.retries == 1 and server.attempts("q") == 2


def test_5xx_then_calls(teacher):
    backend, _ = teacher(lambda call: Reply(503, {"error": {"message": "overloaded"}}) if call.attempt == 0
                         else one_call(call))
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error is None and backend.retries == 1


@pytest.mark.parametrize("bad", [
    Reply(body=b"{garbage"),
    Reply(body={"object": "chat.completion", "choices": []}),
    Reply(body={"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
                                                                                   "content": None}}]}),
    Reply(body={"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
                                                                                   "content": "", "tool_calls": []}}]}),
    Reply(body={"object": "chat.completion", "choices": [{"index": 0, "message": {"content": None,
                                                                                   "tool_calls": "search"}}]}),
], ids=["not-json", "no-choices", "null-content-no-calls", "empty", "calls-not-a-list"])
def test_garbage_is_retried_then_an_error_on_that_request_only(teacher, bad):
    backend, server = teacher(lambda call: bad if call.prompt == "bad" else one_call(call))
    good, broken = backend.chat([ask("good"), ask("bad")], max_tokens=64)
    assert good.error is None and good.tool_calls
    assert broken.content == "" and broken.tool_calls == []
    assert broken.error.startswith("malformed reply") and broken.error.endswith("after 2 retries")
    assert server.attempts("bad") == 3 and backend.retries == 2 and backend.failures == 1


def test_garbage_once_then_calls(teacher):
    backend, _ = teacher(lambda call: Reply(body=b"<html>Bad gateway</html>") if call.attempt == 0 else one_call(call))
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error is None and reply.tool_calls and backend.retries == 1


def test_a_client_error_is_not_retried(teacher):
    error = {"message": "tool_choice is not supported", "type": "invalid_request_error", "param": "tool_choice"}
    backend, server = teacher(lambda call: Reply(400, {"error": error}))
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.error.startswith("HTTP 400") and "tool_choice is not supported" in reply.error
    assert server.attempts("q") == 1


# -- usage and cost ----------------------------------------------------------------------------------------


def test_usage_and_cost(teacher):
    usage = {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100}
    backend, _ = teacher(lambda call: Reply(tool_calls=[wire_call("search", {"query": "x"})], usage=usage),
                         price_input_per_m=2.5, price_output_per_m=10.0)
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert (reply.tokens_in, reply.tokens_out) == (2000, 100)
    assert reply.cost == pytest.approx(2000 * 2.5 / 1e6 + 100 * 10.0 / 1e6)
    assert reply.latency_s > 0 and backend.requests == 1


def test_tokens_estimated_without_usage_count_the_calls(teacher):
    backend, _ = teacher(lambda call: Reply(tool_calls=[wire_call("search", {"query": "x" * 400})], usage=None))
    [reply] = backend.chat([ask("q")], max_tokens=64)
    assert reply.tokens_out >= 100  # the call's arguments were generated, though the content is empty
    assert reply.tokens_in >= len(json.dumps(TOOLS)) // 4  # the tool schemas were read
