"""The DuckDB store: schema, round trips, resume keys, single-writer lock."""

import os
import subprocess
import sys

import duckdb
import pytest

from storage import Store, StoreError
from storage.migrations import MIGRATIONS
from studio.paths import ROOT
from studio.trajectories.episode import Episode, Step


def episode(qid: str, **kw) -> Episode:
    base = dict(task="hotpotqa", split="dev", question_id=qid, question=f"q {qid}?", method="react",
                agent="teacher", gold="yes", text="Thought: t\nAction: finish[yes]\n",
                steps=[Step("t", "finish", "yes")], prediction="yes", em=1.0, f1=1.0, correct=True,
                finished=True, tokens_in=10, tokens_out=5, cost=0.001, latency_s=0.5)
    return Episode(**(base | kw))


def test_new_file_is_migrated_to_latest(tmp_path):
    with Store(tmp_path / "a.duckdb") as s:
        assert s.schema_version == len(MIGRATIONS)
    with Store(tmp_path / "a.duckdb") as s:  # reopening applies nothing twice
        assert s.schema_version == len(MIGRATIONS)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.duckdb"
    with Store(path):
        pass
    con = duckdb.connect(str(path))
    con.execute("UPDATE schema_version SET version = 99")
    con.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(path)


def test_episode_round_trip(store):
    run = store.create_run("gen", "generate", {"name": "r"}, "r")
    store.add_episode(run, episode("1", steps=[Step("look", "search", "x", "obs"), Step("done", "finish", "yes")]))
    (row,) = store.trajectories(run)
    assert row["key"] == "teacher|react|hotpotqa|dev|1|0"
    assert row["steps"][0] == {"thought": "look", "action": "search", "argument": "x", "observation": "obs",
                               "status": ""}
    assert row["n_steps"] == 2 and row["correct"] is True and row["cost"] == pytest.approx(0.001)
    assert store.get_run(run)["recipe"] == {"name": "r"}


def test_resume_keys_skip_done_and_retry_failed(store):
    run = store.create_run("gen", "generate")
    store.add_episodes(run, [episode("1"), episode("2", error="HTTP 500", prediction=None)])
    assert store.done_keys(run) == {episode("1").key}
    store.add_episode(run, episode("2"))  # the retry replaces the failed row
    assert store.done_keys(run) == {episode("1").key, episode("2").key}
    assert len(store.trajectories(run)) == 2


def test_keys_separate_agents_methods_and_noise(store):
    run = store.create_run("eval", "evaluate")
    store.add_episodes(run, [episode("1"), episode("1", method="cot"), episode("1", agent="finetuned"),
                             episode("1", noise=0.5)])
    assert len(store.done_keys(run)) == 4


def test_failed_transaction_stores_nothing(store):
    with pytest.raises(RuntimeError), store.transaction():
        run = store.create_run("x", "import")
        store.add_episode(run, episode("1"))
        raise RuntimeError("boom")
    assert store.list_runs() == [] and store.trajectories() == []


def test_run_status_and_filters(store):
    run = store.create_run("gen", "generate")
    store.set_run_status(run, "running")
    store.add_episodes(run, [episode("1"), episode("2", task="mmlu")])
    store.set_run_status(run, "failed", error="server down")
    got = store.get_run(run)
    assert got["status"] == "failed" and got["error"] == "server down" and got["started_at"] is not None
    assert [r["question_id"] for r in store.trajectories(run, task="mmlu")] == ["2"]
    with pytest.raises(StoreError, match="no trajectory column"):
        store.trajectories(run, colour="red")


def test_tool_cache_and_metrics_and_dashboards(store):
    assert store.cache_get("local", "q", 1) is None
    store.cache_put("local", "q", 1, ["passage"])
    assert store.cache_get("local", "q", 1) == ["passage"]
    run = store.create_run("t", "train")
    store.add_train_metric(run, 1, loss=2.0, learning_rate=1e-4)
    store.add_train_metric(run, 2, loss=1.5)
    assert [m["loss"] for m in store.train_metrics(run)] == [2.0, 1.5]
    store.save_dashboard("abc", "title", [run], {"figures": []})
    assert store.get_dashboard("abc")["run_ids"] == [run]


def test_recipes_are_saved_and_updated(store):
    store.save_recipe("demo", "name: demo\n")
    store.save_recipe("demo", "name: demo\ndescription: two\n")
    assert store.list_recipes() == ["demo"] and "two" in store.get_recipe("demo")


def test_second_process_gets_clear_lock_message(tmp_path):
    path = tmp_path / "locked.duckdb"
    code = (f"from storage import Store, StoreLockedError\ntry:\n    Store({str(path)!r})\n"
            "except StoreLockedError as e:\n    print('LOCKED', e)\n")
    with Store(path):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert out.startswith("LOCKED") and f"is in use by process {os.getpid()}" in out and "--db" in out


def test_reads_between_writes_leave_no_open_result(store):
    """DuckDB refuses new work while a result is half-read: every read must finish its result."""
    run = store.create_run("eval", "evaluate")
    store.cache_put("local", "q", 1, ["p"])
    store.save_recipe("demo", "name: demo\n")
    for _ in range(2):
        assert store.cache_get("local", "q", 1) == ["p"] and store.get_recipe("demo") == "name: demo\n"
        store.add_episode(run, episode(str(_)))
    assert len(store.trajectories(run)) == 2


def test_errors_are_stored_without_secrets(store):
    from studio.trajectories.episode import Episode

    run = store.create_run("r", "generate", None, "r")
    store.add_episode(run, Episode(task="hotpotqa", question_id="q", question="?", method="react", agent="teacher",
                                   error="HTTP 401: Incorrect API key provided: sk-abcdefgh12345678"))
    store.set_run_status(run, "failed", error="token hf_ABCDEFGHIJKLMNOPQRST refused; Bearer abc.def-123456")
    assert store.trajectories(run)[0]["error"] == "HTTP 401: Incorrect API key provided: [redacted]"
    assert store.get_run(run)["error"] == "token [redacted] refused; Bearer [redacted]"


OWN_A_RUN = """
import os, signal, sys, time
from storage import Store
with Store(sys.argv[1]) as s:
    run = s.create_run("r", "generate")
    s.set_run_status(run, "running")
    s.create_run("p", "generate")  # never started: stays pending
print(run, flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(600)
"""


def test_a_run_whose_process_is_gone_is_interrupted_and_a_live_ones_is_not(tmp_path):
    db = tmp_path / "owned.duckdb"
    owner = subprocess.Popen([sys.executable, "-c", OWN_A_RUN, str(db), "live"], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    try:
        run = int(owner.stdout.readline())
        with Store(db) as s:  # the owner closed the file but still runs: its runs are left alone
            assert [r["status"] for r in s.list_runs()] == ["running", "pending"]
            assert s.get_run(run)["owner_pid"] == owner.pid
    finally:
        owner.kill()
        owner.wait()
    with Store(db) as s:
        runs = s.list_runs()
        assert [r["status"] for r in runs] == ["interrupted", "interrupted"]
        assert all(f"process {owner.pid} ended" in r["error"] and "rerun to resume" in r["error"] for r in runs)
        assert runs[0]["finished_at"] is not None


def test_a_run_of_a_killed_process_whose_pid_was_reused_is_interrupted(tmp_path):
    db = tmp_path / "reused.duckdb"
    dead = subprocess.run([sys.executable, "-c", OWN_A_RUN, str(db), "die"], cwd=ROOT, capture_output=True, text=True)
    assert dead.returncode == -9
    with Store(db) as s:
        assert {r["status"] for r in s.list_runs()} == {"interrupted"}
        # the same run owned by a live pid (ours) but an older process start: the pid was reused
        run = s.create_run("again", "generate")
        s.set_run_status(run, "running")
        s._exec("UPDATE runs SET owner_started = owner_started - 3600 WHERE id = ?", [run])
        assert s.reap_dead_runs() == [run]
        s.set_run_status(run, "running")  # this process's own running run stays running
        assert s.reap_dead_runs() == [] and s.get_run(run)["status"] == "running"


def test_a_folder_that_cannot_be_made_is_a_store_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match=r"cannot open .*file/sub/x.duckdb"):
        Store(tmp_path / "file" / "sub" / "x.duckdb")
    (tmp_path / "text.duckdb").write_text("not a database")
    with pytest.raises(StoreError, match="not a valid DuckDB database"):
        Store(tmp_path / "text.duckdb")
