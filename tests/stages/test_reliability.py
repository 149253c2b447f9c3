"""Reliability as a user meets it: a teacher endpoint that fails 30% of requests in every way hosted APIs do,
a planted API key looked for in every file and row the studio wrote, and fuzzed recipes and files.

`benchmarks/reliability.py` runs the same at a larger size (and kill -9 during each stage) for the README.
"""

from __future__ import annotations

import secrets

import pytest

from benchmarks.chaos import FAULTS, FaultProxy, files_holding, fuzz_inputs, rows_holding
from storage import Store
from studio.results.dashboards import save_dashboard
from studio.stages.generate import generate
from tests.support.agents import recipe_for


@pytest.mark.slow
def test_a_faulty_teacher_loses_no_question_and_leaks_no_key(llama_server, tmp_path, monkeypatch):
    """Whatever the machine's load: the real server's replies are recorded in a pass with no faults and a
    timeout no load reaches; the faulty pass and its rerun are answered from that record, so nothing in them
    waits on the server, and only the hangs (never answered) reach their short timeout."""
    planted = f"sk-planted-{secrets.token_hex(12)}"
    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("STUDIO_TEST_PLANTED_KEY", planted)
    with FaultProxy(llama_server, rate=0.0) as recorder, Store(tmp_path / "recording.duckdb") as store:
        clean = generate(recipe_for(recorder.base_url, n=6, api_key_env="STUDIO_TEST_PLANTED_KEY", timeout_s=600,
                                    max_retries=0), store)
        assert clean.total == 12 and clean.failed == 0 and recorder.recorded
    with FaultProxy(llama_server, rate=0.3, replay=recorder.recorded) as proxy, \
            Store(tmp_path / "studio.duckdb") as store:
        recipe = recipe_for(proxy.base_url, n=6, api_key_env="STUDIO_TEST_PLANTED_KEY", timeout_s=5, max_retries=3)
        first = generate(recipe, store)
        assert set(FAULTS) <= set(proxy.counts), proxy.counts  # every kind of fault was met
        rows = store.trajectories(first.run_id)
        assert len(rows) == len({r["key"] for r in rows}) == first.total == 12  # every question accounted for
        failed = [r for r in rows if r["error"]]
        assert len(failed) == first.failed >= 1
        # 429, 500, malformed replies and hangs (past the client's timeout) were retried away; a 401 is not
        # retried, and its key is scrubbed
        assert all(r["error"].startswith("HTTP 401") and "[redacted]" in r["error"] for r in failed), failed
        proxy.rate = 0.0
        second = generate(recipe, store)
        assert second.run_id == first.run_id and second.ran == first.failed and second.failed == 0
        rows = store.trajectories(first.run_id)
        assert len(rows) == 12 and not any(r["error"] for r in rows)
        assert proxy.counts["forwarded"] == 0 and proxy.counts["replayed"] > 0, proxy.counts  # none waited on it
        save_dashboard(store, [first.run_id], "faults", html_path=tmp_path / "dashboard.html")
    with Store(tmp_path / "studio.duckdb") as store:
        assert rows_holding(store, planted) == []
    with Store(tmp_path / "recording.duckdb") as store:
        assert rows_holding(store, planted) == []
    assert files_holding(tmp_path, planted) == []


def test_fuzzed_recipes_and_files_are_refused_cleanly(tmp_path):
    """Broken recipes, trajectory files and question files: accepted or refused with a StudioError, never a
    crash (any other exception)."""
    for kind, found in fuzz_inputs(tmp_path, recipes=150, files=150).items():
        assert found["crashed"] == 0 and found["refused"] > 20, (kind, found)


@pytest.mark.slow
def test_kill_9_during_evaluate_loses_and_duplicates_nothing(tmp_path, bundled_model_dir):
    from benchmarks.reliability import kill_half_way

    found = kill_half_way(tmp_path, {
        "name": "kill-evaluate", "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 8}],
                                                "agents": ["prompted"], "methods": ["react"], "engine": "llama.cpp"}},
        "evaluate")
    done, total = map(int, found["killed_at"].split("/"))
    assert found["status_after_kill"] == "interrupted" and 4 <= done < total == 8, found
    assert found["episodes_kept"] >= 4 and found["rerun_status"] == "done" and found["rerun_exit"] == 0, found
    assert found["final_episodes"] == 8 and found["lost"] == 0 and found["duplicated"] == 0, found
