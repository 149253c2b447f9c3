"""The command line as a user runs it: exit codes, one line per problem, never a traceback."""

import json

from tests.support.paths import FINETUNE, needs_shared


def test_validate_ok_and_errors(cli, tmp_path):
    ok = cli("validate", "recipes/quickstart.yaml")
    assert ok.returncode == 0 and "valid recipe 'quickstart'" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: demo\ntasks:\n  - task: hotpotqa\n    n: 3\n  - task: mmlu\n    n: 0\nstudent: {lr: 1}\n")
    res = cli("validate", str(bad))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.splitlines() == [
        "error: tasks[1].n: must be > 0 (line 6)",
        "error: student.lr: is not a recipe field (line 7)",
    ]


def test_validate_syntax_error_and_missing_file(cli, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: demo\ntasks: [\n")
    res = cli("validate", str(broken))
    assert res.returncode == 2 and "YAML syntax error" in res.stderr and "Traceback" not in res.stderr
    res = cli("validate", str(tmp_path / "absent.yaml"))
    assert res.returncode == 2 and "absent.yaml: cannot read recipe" in res.stderr


def test_search_prints_top_passages(cli):
    res = cli("search", "Badr Hari kickboxer", "--top-k", "2")
    assert res.returncode == 0
    assert res.stdout.startswith("[1] Badr Hari (born 8 December 1984)") and "\n[2] " in res.stdout


@needs_shared
def test_import_then_report_json(cli, tmp_path):
    res = cli("import", str(FINETUNE / "gpt_format/hotpotqa.jsonl"), "--format", "chat", "--task", "hotpotqa")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("run 1: imported 500 trajectories")
    report = json.loads(cli("report", "--json").stdout)
    (run,) = report
    assert {"id", "name", "stage", "status", "counts", "metrics"} <= set(run)
    assert run["stage"] == "import" and run["status"] == "done"
    assert run["counts"] == {"method": {"react": 499, "cot": 1}, "task": {"hotpotqa": 500}}
    assert run["metrics"]["trajectories"] == 500 and run["metrics"]["correct_rate"] == 1.0


def test_bad_import_names_file_and_line_and_keeps_store(cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", '
                   '"content": "Thought: a\\nAction: finish[b]"}]}\n{oops\n')
    res = cli("import", str(bad), "--format", "chat")
    assert res.returncode == 2 and f"error: {bad}:2: record 2: invalid JSON" in res.stderr
    assert json.loads(cli("report", "--json").stdout) == []


def test_locked_database_is_a_clear_error(cli, tmp_path):
    from storage import Store

    db = tmp_path / "held.duckdb"
    with Store(db):
        res = cli("report", db=db)
    assert res.returncode == 2 and "is in use by process" in res.stderr and "Traceback" not in res.stderr


def test_help_lists_every_command(cli):
    res = cli("--help")
    assert res.returncode == 0
    for command in ("run", "validate", "import", "export", "preview-mask", "dashboard", "search", "report"):
        assert f"    {command}" in res.stdout


def test_progress_in_a_log_is_a_line_a_tenth_not_a_line_a_redraw(capsys):
    from studio.cli.main import progress_bars
    from studio.stages.runs import Progress

    with progress_bars() as progress:  # stderr is captured: not a terminal
        for done in range(1, 101):
            progress(Progress("generate", total=100, done=done, correct=done // 2, run_id=3))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 11 and lines[0] == "generate (run 3): 1/100 0 failed, 0 correct, $0.0000"
    assert lines[-1].startswith("generate (run 3): 100/100 ")


def test_tools_lists_a_failing_server_and_exits_2(cli, tmp_path):
    """`launch.py tools` names the server that fails and exits with the status every command's errors have."""
    import sys

    from tests.support.paths import MCP_SERVERS

    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {
        "broken": {"command": sys.executable, "args": [str(MCP_SERVERS / "broken_start.py")]}}}))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nformat: tools\ntools:\n  - mcp: broken\n  - mcp: calculator\n")
    res = cli("tools", str(recipe), "--mcp-config", str(config))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "tools[0] mcp `broken`: FAILED: " in res.stdout and "cannot open the database" in res.stdout
    assert "tools[1] mcp `calculator`:\n  calculate: " in res.stdout and "Traceback" not in res.stderr
