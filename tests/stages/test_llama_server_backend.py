"""OpenAIBackend over real HTTP against llama.cpp's llama-server serving the bundled Gemma 3 270M."""

from __future__ import annotations

import pytest

from studio.llm.base import Request
from studio.llm.openai_compat import OpenAIBackend
from studio.recipe.schema import Teacher

pytestmark = pytest.mark.slow


@pytest.fixture
def backend(llama_server):
    made: list[OpenAIBackend] = []

    def make(api: str, **teacher: object) -> OpenAIBackend:
        spec = {"model": "gemma-3-270m", "base_url": llama_server, "api_key_env": "STUDIO_TEST_LLAMA_KEY",
                "api": api, "temperature": 0.0, "timeout_s": 60.0, "max_retries": 1, **teacher}
        made.append(OpenAIBackend(Teacher(**spec)))
        return made[-1]

    yield make
    for b in made:
        b.close()


def one(backend: OpenAIBackend, prompt: str, stop: list[str], max_tokens: int = 24):
    [out] = backend.generate([Request(key="k", prompt=prompt)], stop=stop, max_tokens=max_tokens)
    assert out.error is None, out.error
    return out


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_generates_text_with_usage(backend, api):
    b = backend(api, price_input_per_m=1.0, price_output_per_m=2.0)
    prompt = "The capital of France is" if api == "completions" else "What is the capital of France?"
    out = one(b, prompt, stop=[])
    assert out.text.strip()
    assert out.tokens_in > 0 and out.tokens_out > 0
    assert out.cost == pytest.approx((out.tokens_in * 1.0 + out.tokens_out * 2.0) / 1e6)
    assert out.latency_s > 0
    assert b.retries == 0


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_stop_sequence(backend, api):
    b = backend(api)
    prompt = "Write a list of five fruits, one per line:\n1. Apple\n2." if api == "completions" else \
        "List five fruits, one per line, numbered."
    free = one(b, prompt, stop=[], max_tokens=40)
    assert "\n" in free.text.strip(), f"the prompt should make the model write a newline: {free.text!r}"
    cut = one(b, prompt, stop=["\n"], max_tokens=40)
    assert "\n" not in cut.text


def test_concurrent_requests_in_order(backend):
    b = backend("completions", concurrency=4)
    # sequences a small model continues with one obvious next item, so each reply shows which prompt it answers
    # (llama-server batches concurrent requests, so their text need not equal one-at-a-time text bit for bit)
    prompts = {"1, 2, 3, 4,": " 5", "10, 20, 30, 40,": " 50", "Monday, Tuesday, Wednesday,": " Thursday",
               "January, February, March,": " April", "2, 4, 6, 8,": " 10", "5, 10, 15, 20,": " 25"}
    requests = [Request(key=f"k{i}", prompt=p) for i, p in enumerate(prompts)]
    together = b.generate(requests, stop=["\n"], max_tokens=8)
    assert all(o.error is None for o in together), [o.error for o in together]
    assert [o.text.split(",")[0] for o in together] == list(prompts.values())


def test_a_temperature_reaches_the_server(llama_server):
    """Sampling (self-improvement rounds) is plumbed through an engine's OpenAI-compatible path: at temperature
    1 the same prompt gets different replies, at 0 the same one."""
    from studio.llm.engines import open_backend
    from studio.recipe.schema import Engine

    prompt = "Once upon a time, in a small village,"
    engine = Engine(name="server", base_url=llama_server, parallel=4)
    with open_backend(engine, "gemma-3-270m", None, max_tokens=16, temperature=1.0) as hot:
        replies = {c.text for c in hot.generate([Request(f"h{i}", prompt) for i in range(6)], [], 16)}
    assert len(replies) >= 2, replies
    with open_backend(engine, "gemma-3-270m", None, max_tokens=16) as cold:
        assert len({c.text for c in cold.generate([Request(f"c{i}", prompt) for i in range(4)], [], 16)}) == 1
