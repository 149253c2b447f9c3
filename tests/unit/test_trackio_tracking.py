"""Runs logged to trackio (offline, a local SQLite file), read back from that file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from studio.paths import ROOT
from studio.results.tracking import flat, run_metrics

LOG_RUNS = """
import sys
from storage import Store
from studio.recipe.schema import Recipe
from studio.results.tracking import track
recipe = Recipe.model_validate({"name": "tracked", "tracking": {"backend": "trackio", "project": "fireact-test"}})
with Store(sys.argv[1]) as store:
    for run_id in (int(sys.argv[2]), int(sys.argv[3])):
        track(recipe, store, store.get_run(run_id)["stage"], run_id)
"""


def test_flat_settings():
    assert flat({"a": 1, "b": {"c": [1, 2], "d": {"e": None}}}) == {"a": 1, "b.c": "[1, 2]", "b.d.e": None}


def test_train_and_evaluate_runs_reach_trackio(tmp_path):
    from storage import Store
    from tests.support.seeds import seed_store

    db = tmp_path / "studio.duckdb"
    with Store(db) as store:
        ids = seed_store(store, tmp_path)
    (tmp_path / "adapter").mkdir()  # the seeded train run's artifact
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    with Store(db) as store:
        steps, final = run_metrics(store, ids["evaluate"])
        assert steps == [] and final["finetuned/hotpotqa/react/em"] == 100.0 and final["episodes"] == 4
    done = subprocess.run([sys.executable, "-c", LOG_RUNS, str(db), str(ids["train"]), str(ids["evaluate"])],
                          cwd=ROOT, env={"TRACKIO_DIR": str(tmp_path / "trackio"), "PATH": "/usr/bin:/bin",
                                         "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "failed" not in done.stderr
    with sqlite3.connect(tmp_path / "trackio" / "fireact-test.db") as found:
        configs = {name: json.loads(config) for name, config in found.execute("SELECT run_name, config FROM configs")}
        metrics = [(name, step, json.loads(values)) for name, step, values in
                   found.execute("SELECT run_name, step, metrics FROM metrics ORDER BY id")]
        artifacts = list(found.execute("SELECT name, type FROM artifacts"))
    assert artifacts == [("tracked-adapter", "model")]
    train_name, eval_name = f"tracked train (run {ids['train']})", f"tracked evaluate (run {ids['evaluate']})"
    assert set(configs) == {train_name, eval_name}
    assert configs[train_name]["student.lora.r"] == 16 and configs[train_name]["stage"] == "train"
    losses = [values["loss"] for name, _, values in metrics if name == train_name and "loss" in values]
    assert losses == [2.5, 2.1, 1.8, 1.6]
    final = next(values for name, _, values in metrics if name == eval_name)
    assert final["finetuned/hotpotqa/react/em"] == 100.0 and final["prompted/hotpotqa/react/em"] == 0.0
