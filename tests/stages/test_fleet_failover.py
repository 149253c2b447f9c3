"""Generation and evaluation across a fleet: two real llama-servers serving the bundled model, one of them
killed mid-run. Requests spread over the servers that answer, the dead one is dropped and its requests are
answered by the other, and every episode records the servers that served it."""

import threading
import time

import pytest

from studio.llm.base import Request
from studio.recipe.schema import Recipe, Teacher

ALIAS = "gemma-3-270m"


@pytest.fixture
def two_servers():
    """Two llama-servers on the bundled GGUF, a thread each (2 cores for both); yields their ServerProcesses."""
    from studio.llm.gguf_files import bundled_gguf
    from studio.llm.llama_cpp import llama_server

    with (llama_server(bundled_gguf(), parallel=4, ctx_per_slot=1024, threads=1, alias=ALIAS) as a,
          llama_server(bundled_gguf(), parallel=4, ctx_per_slot=1024, threads=1, alias=ALIAS) as b):
        yield a, b


def requests(n: int, tag: str) -> list[Request]:
    return [Request(f"{tag}{i}", f"Question: What is the capital of country number {i}?\nAnswer:") for i in range(n)]


def test_requests_spread_over_the_fleet_and_move_off_a_server_killed_under_them(two_servers):
    from studio.llm.openai_compat import OpenAIBackend

    a, b = two_servers
    teacher = Teacher(base_url=[a.base_url, b.base_url], model=ALIAS, api="completions", concurrency=8,
                      max_tokens=48, max_retries=0, timeout_s=60)
    with OpenAIBackend(teacher, backoff_s=0.05) as backend:
        first = backend.generate(requests(8, "a"), [], 48)
        assert all(c.error is None for c in first)
        assert sorted(c.server for c in first) == sorted([a.base_url] * 4 + [b.base_url] * 4)  # fewest in flight

        killer = threading.Timer(0.3, b.proc.kill)  # while the next batch is in flight on both
        killer.start()
        second = backend.generate(requests(8, "b"), [], 48)
        killer.join()
        assert b.proc.wait(timeout=10) is not None
        # max_retries 0: moving a request off a dead server is not a retry, so none of them fails
        assert all(c.error is None for c in second), [c.error for c in second]
        # dropped during this batch (not after it): B's four requests were in flight when it died
        assert backend.dropped == [b.base_url] and backend.retries == 0
        assert {c.server for c in second} <= {a.base_url, b.base_url}

        third = backend.generate(requests(4, "c"), [], 48)
        assert all(c.error is None and c.server == a.base_url for c in third)


def test_an_evaluation_over_a_fleet_records_the_servers_of_each_episode(two_servers, store):
    """A server killed after the first episode: every episode is still answered, and each names its servers."""
    from studio.stages.evaluate import evaluate

    a, b = two_servers
    recipe = Recipe.model_validate({
        "name": "fleet",
        "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 6}], "agents": ["prompted"],
                       "few_shot_k": 0, "max_steps": 2, "max_tokens": 32,
                       "engine": {"name": "server", "base_url": [a.base_url, b.base_url], "base_model_name": ALIAS,
                                  "parallel": 4}},
    })
    killed = []

    def progress(p):
        if p.done >= 1 and not killed:
            b.proc.kill()
            killed.append(time.monotonic())

    evaluate(recipe, store, progress=progress)
    assert killed
    episodes = store.trajectories(agent="prompted")
    assert len(episodes) == 6 and all(e["error"] is None for e in episodes), [e["error"] for e in episodes]
    served = [e["served_by"].split() for e in episodes]
    assert all(s and set(s) <= {a.base_url, b.base_url} for s in served)
    assert any(b.base_url in s for s in served)  # B answered before it was killed
    assert any(s == [a.base_url] for s in served)  # and A alone answered what came after
    from studio.app.cards import lane_html, stored_lane

    assert f"served by {episodes[0]['served_by']}" in lane_html(stored_lane(episodes[0]), None)


def test_a_fleet_in_the_recipe_and_its_key():
    from pydantic import ValidationError

    from studio.llm.openai_compat import PLACEHOLDER_KEY, BackendError, resolve_api_key

    assert Teacher(base_url=["http://gpu-a:8000/v1", "http://gpu-b:8000/v1"]).base_url[1] == "http://gpu-b:8000/v1"
    for urls, problem in (([], "at least one server"), (["gpu-a:8000/v1"], "not an http"),
                          (["http://a/v1", "http://a/v1"], "listed twice")):
        with pytest.raises(ValidationError, match=problem):
            Teacher(base_url=urls)
    with pytest.raises(ValidationError, match="listed twice"):
        Recipe.model_validate({"evaluation": {"engine": {"name": "server", "base_url": ["http://a/v1"] * 2}}})
    local = ["http://127.0.0.1:8001/v1", "http://localhost:8002/v1"]
    assert resolve_api_key(Teacher(base_url=local, api_key_env="STUDIO_TEST_UNSET_KEY")) == PLACEHOLDER_KEY
    with pytest.raises(BackendError, match=r"https://api\.example\.com/v1"):  # one remote server needs the key
        resolve_api_key(Teacher(base_url=[*local, "https://api.example.com/v1"], api_key_env="STUDIO_TEST_UNSET_KEY"))
