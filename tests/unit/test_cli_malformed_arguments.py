"""Malformed command lines, each one clear `error:` line and exit status 2, and nothing stored for them.

Run in this process through `studio.cli.main` (a subprocess per case would cost a second each): argparse's
exit is caught as the exit status, stderr is what a user reads.
"""

from __future__ import annotations

import os

import pytest

from storage import Store
from studio.cli.main import main

DEEP_YAML = "name: deep\ndescription: " + "[" * 3000 + "]" * 3000 + "\n"
REMOTE = ("name: remote\ntasks: [{task: hotpotqa, n: 2}]\nteacher: {backend: openai, model: gpt-4o-mini, "
          "base_url: 'https://api.example.invalid/v1', api_key_env: STUDIO_TEST_UNSET_KEY}\n")
SERPAPI = ("name: serp\ntasks: [{task: hotpotqa, n: 2}]\nteacher: {backend: local, model: 'bundled:gemma-3-270m'}\n"
           "tool: {backend: serpapi, api_key_env: STUDIO_TEST_UNSET_KEY}\n")
# The owner declares the endpoint and the search key the two recipes above name (as recipes written before
# endpoints were declared do): so their missing keys are what the run refuses.
OWNER = ('{"endpoints": {"example": {"base_url": "https://api.example.invalid/v1", "api_key_env": '
         '"STUDIO_TEST_UNSET_KEY"}}, "search": {"serpapi": {"api_key_env": "STUDIO_TEST_UNSET_KEY"}}}')
NO_ANSWERS = "name: noanswers\nevaluation: {sets: [{task: custom, path: '{tmp}/questions.csv'}]}\n"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A store with one finished import run, files of every bad kind, and the variables the cases name."""
    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("STUDIO_TEST_UNSET_KEY", raising=False)
    files = {"deep.yaml": DEEP_YAML, "remote.yaml": REMOTE, "serp.yaml": SERPAPI, "not-a-db.duckdb": "text",
             "noanswers.yaml": NO_ANSWERS.replace("{tmp}", str(tmp_path)), "questions.csv": "question\nWho?\n",
             "deep.json": "[" * 100_000 + "]" * 100_000, "a-file": "", "ok.yaml": "name: ok\n",
             "mcp.json": OWNER}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)))
    db = tmp_path / "studio.duckdb"
    with Store(db) as store:
        run = store.create_run("seed", "import")
        store.set_run_status(run, "done")
    return tmp_path


CASES = {
    # ids and id lists that are not numbers, or out of bounds
    "runs not numbers": (["dashboard", "--runs", "a,b", "-o", "{tmp}/d.html"], "'a' is not a run id"),
    "runs with a gap": (["dashboard", "--runs", "1,,2", "-o", "{tmp}/d.html"], "comma-separated list of run ids"),
    "run zero": (["dashboard", "--runs", "0", "-o", "{tmp}/d.html"], "a run id from 1"),
    "run not a number": (["export", "--run", "abc", "-o", "{tmp}/x.json"], "'abc' is not a run id"),
    "run negative": (["export", "--run", "-3", "-o", "{tmp}/x.json"], "a run id from 1"),
    "run too big": (["export", "--run", "99999999999999", "-o", "{tmp}/x.json"], "out of range"),
    "run missing": (["export", "--run", "7", "-o", "{tmp}/x.json"], "no run 7 in"),
    "dashboard of missing runs": (["dashboard", "--runs", "7,8", "-o", "{tmp}/d.html"], "no run 7, 8 in"),
    "top-k zero": (["search", "q", "--top-k", "0"], "must be >= 1"),
    "top-k too big": (["search", "q", "--top-k", "11"], "must be <= 10"),
    "top-k words": (["search", "q", "--top-k", "many"], "is not a number"),
    "port too big": (["--port", "70000"], "a port from 1 to 65535"),
    "index negative": (["preview-mask", "{tmp}/ok.yaml", "--index", "-1"], "an example number from 0"),
    "unknown stage": (["run", "{tmp}/ok.yaml", "--stages", "gen"], "unknown gen; choose from generate"),
    "empty stages": (["run", "{tmp}/ok.yaml", "--stages", ","], "choose from generate"),
    "unknown choice": (["export-agent", "{tmp}/ok.yaml", "--format", "onnx", "-o", "{tmp}/out"], "invalid choice"),
    # output paths that cannot be written
    "output is a folder": (["dashboard", "--runs", "1", "-o", "{tmp}"], "is a folder; give a file name"),
    "output under a file": (["export", "--run", "1", "-o", "{tmp}/a-file/x.json"], "exists and is not a folder"),
    "output folder cannot be made": (["export", "--run", "1", "-o", "/proc/no/x.json"], "cannot create the folder"),
    "dashboard html under a file": (["run", "{tmp}/ok.yaml", "--dashboard", "{tmp}/a-file/d.html"],
                                    "exists and is not a folder"),
    "export-agent without an adapter": (["export-agent", "{tmp}/ok.yaml", "--format", "peft", "-o", "{tmp}"],
                                "has no trained adapter"),
    # the store's file
    "db folder cannot be made": (["report", "--db", "{tmp}/a-file/sub/studio.duckdb"], "cannot open"),
    "db not a database": (["report", "--db", "{tmp}/not-a-db.duckdb"], "not a valid DuckDB database file"),
    # recipes and files
    "recipe nested too deeply": (["validate", "{tmp}/deep.yaml"], "YAML nested too deeply"),
    "recipe not text": (["validate", "{tmp}/binary.yaml"], "not UTF-8 text"),
    "recipe is a folder": (["validate", "{tmp}"], "cannot read recipe"),
    "recipe missing": (["run", "{tmp}/missing.yaml"], "cannot read recipe"),
    "custom file without answers": (["validate", "{tmp}/noanswers.yaml"], "missing column 'answer'"),
    "import nested too deeply": (["import", "{tmp}/deep.json", "--format", "alpaca"], "nested too deeply"),
    "import a folder": (["import", "{tmp}", "--format", "chat"], "cannot read"),
    # keys the run needs, missing: refused before a run is made
    "teacher key unset": (["run", "{tmp}/remote.yaml"], "STUDIO_TEST_UNSET_KEY is not set"),
    "search key unset": (["run", "{tmp}/serp.yaml", "--stages", "generate"], "STUDIO_TEST_UNSET_KEY is not set"),
}


@pytest.mark.parametrize("argv, expected", CASES.values(), ids=CASES.keys())
def test_a_malformed_command_is_one_error_line_and_stores_nothing(env, capsys, argv, expected):
    argv = [a.replace("{tmp}", str(env)) for a in argv]
    if argv[0] != "report" and "--port" not in argv:
        argv += ["--db", str(env / "studio.duckdb")]
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert status == 2, err
    assert "Traceback" not in err and lines and all(line.startswith("error: ") for line in lines), err
    assert len(lines) == 1, err
    assert expected in err, err
    with Store(env / "studio.duckdb") as store:  # nothing was made for a refused command
        assert [r["name"] for r in store.list_runs()] == ["seed"]
        assert store.query("SELECT count(*) AS n FROM dashboards")[0]["n"] == 0
    assert not (env / "d.html").exists() and not (env / "x.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere: a read-only folder is not read-only to it")
def test_a_read_only_folder_is_refused(env, capsys):
    folder = env / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    status = main(["export", "--run", "1", "-o", str(folder / "x.json"), "--db", str(env / "studio.duckdb")])
    assert status == 2 and "is not writable" in capsys.readouterr().err


def test_a_dashboard_whose_page_cannot_be_written_stores_no_snapshot(env):
    from studio.files import OutputError
    from studio.results.dashboards import save_dashboard

    with Store(env / "studio.duckdb") as store:
        with pytest.raises(OutputError, match="exists and is not a folder"):
            save_dashboard(store, [1], "t", html_path=env / "a-file" / "d.html")
        assert store.query("SELECT count(*) AS n FROM dashboards")[0]["n"] == 0
        dashboard = save_dashboard(store, [1], "t", html_path=env / "d.html")
        assert store.get_dashboard(dashboard) and (env / "d.html").read_text().startswith("<!DOCTYPE html>")
        assert not list(env.glob(".d.html.tmp-*"))
