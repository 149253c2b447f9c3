"""The estimate before a run, checked against the real run it predicts (a llama.cpp server as the teacher)."""

from __future__ import annotations

import pytest
import yaml
from test_generate import recipe_for

from studio.stages.estimate import estimate
from studio.stages.generate import generate

pytestmark = pytest.mark.slow

FACTOR = 2.0  # the stated agreement: estimated and actual teacher tokens within 2x of each other


def test_the_estimate_agrees_with_the_run_it_predicts(store, llama_server):
    recipe = recipe_for(llama_server, n=6)
    found = estimate(recipe, store, sample=2)
    assert found.value("generate", "episodes") == 12
    assert not store.trajectories()  # the dry run stores nothing
    result = generate(recipe, store)
    rows = store.trajectories(result.run_id)
    for item, column in (("teacher tokens in", "tokens_in"), ("teacher tokens out", "tokens_out"),
                         ("teacher cost", "cost")):
        predicted, actual = found.value("generate", item), sum(r[column] for r in rows)
        assert actual / FACTOR <= predicted <= actual * FACTOR, (item, predicted, actual)
    assert found.value("train", "time") is None and "no finished training" in found.table()
    again = estimate(recipe, store, sample=1)  # everything generated: nothing left to spend
    assert again.value("generate", "episodes") == 0 and again.value("generate", "teacher cost") == 0


def test_estimate_on_the_command_line(cli, tmp_path, llama_server, monkeypatch):
    monkeypatch.setenv("STUDIO_TEST_LLAMA_KEY", "x")
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe_for(llama_server, n=3).model_dump(mode="json")))
    res = cli("estimate", str(path), "--sample", "1")
    assert res.returncode == 0, res.stderr
    assert "teacher tokens in" in res.stdout and "dry run of 2 episode(s) x 6 to run" in res.stdout
    assert "evaluate  episodes" in res.stdout


def test_a_trained_recipe_estimates_no_more_training(trained_agent, tmp_path):
    import shutil

    from storage import Store

    recipe, db = trained_agent
    copy = tmp_path / "agent.duckdb"
    shutil.copyfile(db, copy)
    with Store(copy) as store:
        found = estimate(recipe, store)
        assert found.value("generate", "teacher calls") == 0  # imported trajectories
        assert found.value("train", "optimizer steps") == 0 and "already trained" in found.table()
        bigger = recipe.model_copy(update={"student": recipe.student.model_copy(update={"max_steps": 32})})
        more = estimate(bigger, store)  # other settings: a new training, timed by the measured tokens/s
        assert more.value("train", "optimizer steps") == 32 and more.value("train", "time") > 0
        assert "tokens/s on this machine" in more.table()
