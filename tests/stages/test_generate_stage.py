"""The generate stage over real HTTP: a llama.cpp server as the teacher, episodes stored as they finish,
failures stored with their error, and a killed run resumed without losing or duplicating an episode."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from studio.recipe.schema import Recipe
from studio.stages.generate import generate, generation_questions
from studio.tasks import question_key
from tests.support.agents import recipe_for

pytestmark = pytest.mark.slow


def test_generation_never_draws_evaluation_questions():
    recipe = Recipe.model_validate({"name": "x", "tasks": [{"task": "hotpotqa", "split": "eval250", "n": 250}],
                                    "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 20}]}})
    drawn = generation_questions(recipe)
    assert len(drawn) == 230
    held_out = {question_key(q.question) for q in generation_questions(recipe.model_copy(update={"tasks": []}))}
    assert not held_out


def test_generate_stores_every_episode_with_costs(store, llama_server):
    result = generate(recipe_for(llama_server), store)
    assert result.total == 6 and result.ran == 6 and result.failed == 0
    rows = store.trajectories(result.run_id)
    assert len(rows) == 6 and {r["method"] for r in rows} == {"react", "cot"}
    for r in rows:
        assert r["agent"] == "teacher" and r["model"] == "gemma-3-270m" and r["tool"] == "local"
        assert r["tokens_in"] > 0 and r["cost"] == pytest.approx((r["tokens_in"] + 2 * r["tokens_out"]) / 1e6)
        assert r["prediction"] is not None and r["em"] is not None and r["n_steps"] >= 1
    before = store.get_run(result.run_id)
    again = generate(recipe_for(llama_server), store)
    assert again.run_id == result.run_id and again.ran == 0 and again.skipped == 6
    after = store.get_run(result.run_id)  # nothing to do: the run keeps the times of the attempt that worked
    assert (after["status"], after["started_at"], after["finished_at"]) == ("done", before["started_at"],
                                                                          before["finished_at"])


def test_failed_episodes_are_stored_and_retried_on_rerun(store, llama_server):
    impatient = recipe_for(llama_server, n=2, max_retries=0, timeout_s=0.001)
    first = generate(impatient, store)
    assert first.failed == 4 and store.get_run(first.run_id)["status"] == "failed"
    rows = store.trajectories(first.run_id)
    assert len(rows) == 4 and all(r["error"] and "timeout" in r["error"] for r in rows)
    patient = recipe_for(llama_server, n=2, max_retries=2, timeout_s=60)  # same run: timeouts are not results
    second = generate(patient, store)
    assert second.run_id == first.run_id and second.ran == 4 and second.failed == 0
    assert all(r["error"] is None for r in store.trajectories(first.run_id))
    assert store.get_run(first.run_id)["status"] == "done"


def test_killed_generation_resumes_without_loss_or_duplicates(tmp_path, llama_server):
    recipe_path = tmp_path / "gen.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe_for(llama_server, n=4).model_dump(mode="json")))
    db = tmp_path / "gen.duckdb"
    (tmp_path / "mcp.json").write_text(json.dumps(  # the owner declares the server the recipe names
        {"endpoints": {"llama": {"base_url": llama_server, "api_key_env": "STUDIO_TEST_LLAMA_KEY"}}}))
    env = dict(os.environ, STUDIO_TEST_LLAMA_KEY="x")
    cmd = [sys.executable, "launch.py", "run", str(recipe_path), "--stages", "generate", "--db", str(db)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)
    seen = ""
    deadline = time.time() + 240
    while time.time() < deadline and "3/8" not in seen and proc.poll() is None:
        seen += proc.stderr.read(1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert "3/8" in seen, seen[-500:]
    from storage import Store

    with Store(db) as store:
        kept = {r["key"] for r in store.trajectories()}
        assert 3 <= len(kept) < 8
        (killed,) = store.list_runs()  # shown as it is: its process is gone
        assert killed["status"] == "interrupted" and f"process {proc.pid} ended" in killed["error"]
        result = generate(Recipe.model_validate(yaml.safe_load(recipe_path.read_text())), store)
        assert result.skipped == len(kept) and result.ran == 8 - len(kept)
        rows = store.trajectories()
        assert len(rows) == len({r["key"] for r in rows}) == 8 and kept <= {r["key"] for r in rows}
        assert len({r["run_id"] for r in rows}) == 1


def test_the_cost_cap_stops_generation_and_a_higher_cap_resumes_it(store, llama_server):
    from studio.stages.runs import StageError

    capped = recipe_for(llama_server, n=4, max_cost_usd=0.0015, concurrency=2)
    with pytest.raises(StageError, match="max_cost_usd"):
        generate(capped, store)
    (run,) = store.list_runs()
    kept = store.trajectories(run["id"])
    spent = sum(r["cost"] for r in kept)
    assert run["status"] == "capped" and "raise it and rerun" in run["error"]
    assert 1 <= len(kept) < 8 and spent >= 0.0015
    with pytest.raises(StageError, match="max_cost_usd"):  # the same cap: nothing more is spent
        generate(capped, store)
    assert len(store.trajectories(run["id"])) == len(kept)
    more = generate(recipe_for(llama_server, n=4, max_cost_usd=1.0, concurrency=2), store)
    assert more.run_id == run["id"] and more.skipped == len(kept) and more.ran == 8 - len(kept)
    assert store.get_run(run["id"])["status"] == "done"
