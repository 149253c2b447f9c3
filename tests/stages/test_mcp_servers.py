"""MCP servers: the config file, and the hub against real server processes (stdio and streamable HTTP)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mcp_types as types
import pytest

from studio.owner.config import (
    OwnerConfig,
    OwnerConfigError,
    ServerConfig,
    active_config,
    child_env,
    config_path,
    expand,
    http_headers,
    load_config,
)
from studio.tools.mcp_hub import CallResult, McpHub, McpServerError, check_servers
from studio.tools.mcp_result import result_text
from tests.support.paths import MCP_SERVERS
from tests.support.processes import processes_with

TOY = str(MCP_SERVERS / "toy.py")


def stdio(name: str, script: str = TOY) -> ServerConfig:
    return ServerConfig(name=name, command=sys.executable, args=(script,))


def config(*servers: ServerConfig) -> OwnerConfig:
    return OwnerConfig(path=None, servers={s.name: s for s in servers})


def start(cfg: OwnerConfig, *names: str, timeout_s: float = 20) -> None:
    with McpHub(cfg, list(names), connect_timeout_s=timeout_s):
        pass


def write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=1))
    return path


# --- config ---------------------------------------------------------------------------------------------


def test_builtins_are_always_declared_and_a_file_adds_and_replaces(tmp_path):
    assert set(load_config(None).servers) == {"calculator", "search"}
    assert load_config(None).servers["search"].args == ("-m", "studio.tools.servers.search")
    path = write(tmp_path, {
        "mcpServers": {
            "db": {"command": "python", "args": ["srv.py"], "env": {"TOKEN": "${DB_TOKEN}"}, "cwd": "srv"},
            "web": {"url": "http://localhost:9000/mcp", "headers": {"Authorization": "Bearer ${WEB_TOKEN}"}},
            "search": {"command": "my-search"},
        },
        "scorers": {"units": {"module": "my_scorers.py", "function": "score"}},
    })
    loaded = load_config(path)
    assert set(loaded.servers) == {"calculator", "search", "db", "web"}
    assert loaded.servers["search"].command == "my-search"
    assert loaded.servers["db"].cwd == str(tmp_path / "srv")
    assert loaded.servers["db"].env == {"TOKEN": "${DB_TOKEN}"}  # expanded only when the server starts
    assert loaded.scorers == {"units": {"module": str(tmp_path / "my_scorers.py"), "function": "score"}}


@pytest.mark.parametrize(("text", "message"), [
    ('{"mcpServers": {\n  "db": {\n    "command": "x",,\n}}}', "mcp.json line 3: "),
    ({"mcpServers": {"db": {"args": ["x"]}}}, "mcpServers.db: give either `command`"),
    ({"mcpServers": {"db": {"command": "x", "url": "http://h/mcp"}}}, "mcpServers.db: give either `command`"),
    ({"mcpServers": {"db": {"command": "x", "bogus": 1}}}, "mcpServers.db.bogus: Extra inputs are not permitted"),
    ({"mcpServers": {"db": {"command": "x", "args": "srv.py"}}}, "mcpServers.db.args: "),
    ({"mcpServers": {"db": {"url": "localhost:9000"}}}, "url must start with http://"),
    ({"servers": {}}, "servers: Extra inputs are not permitted"),
    ({"scorers": {"units": {"module": "m.py"}}}, "scorers.units.function: Field required"),
])
def test_config_errors_name_the_file_and_the_place(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(OwnerConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_variables_expand_only_at_start_and_a_missing_one_names_server_and_variable(monkeypatch):
    monkeypatch.setenv("WEB_TOKEN", "s3cret")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    web = ServerConfig(name="web", url="http://h/mcp", headers={"Authorization": "Bearer ${WEB_TOKEN}"})
    assert http_headers(web) == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(web)
    with pytest.raises(OwnerConfigError, match="MCP server `db`: environment variable NOT_SET_ANYWHERE is not set"):
        expand("${NOT_SET_ANYWHERE}", "db")
    db = ServerConfig(name="db", command="x", env={"A": "1", "T": "${WEB_TOKEN}"})
    assert child_env(db) == {"A": "1", "T": "s3cret"}  # the SDK adds PATH, HOME, ... itself


def test_config_path_env_var_then_beside_the_store(tmp_path, monkeypatch):
    monkeypatch.delenv("STUDIO_MCP_CONFIG", raising=False)
    store = tmp_path / "studio.duckdb"
    assert config_path(store) is None and config_path(None) is None
    beside = write(tmp_path, {"mcpServers": {"db": {"command": "x"}}})
    assert config_path(store) == beside and "db" in active_config(store).servers
    monkeypatch.setenv("STUDIO_MCP_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(OwnerConfigError, match=r"STUDIO_MCP_CONFIG=.*missing\.json: no such file"):
        config_path(store)


def test_a_missing_variable_fails_the_start_naming_the_server(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    server = ServerConfig(name="toy", command=sys.executable, args=(TOY,), env={"T": "${NOT_SET_ANYWHERE}"})
    with pytest.raises(OwnerConfigError, match=r"`toy`.*NOT_SET_ANYWHERE"):
        start(config(server), "toy")


# --- the hub over stdio ---------------------------------------------------------------------------------


@pytest.fixture
def toy_hub():
    with McpHub(config(stdio("toy")), ["toy"], connect_timeout_s=20) as hub:
        yield hub
    assert processes_with(TOY) == []


def test_stdio_lists_tools_with_nested_schemas_and_calls_them(toy_hub):
    assert toy_hub.server_info("toy") == {"name": "toy", "version": "1.2.3"}
    tools = {t.name: t for t in toy_hub.tools("toy")}
    assert {"echo", "add", "nested", "fail", "crash", "hang", "huge"} <= set(tools)
    assert tools["echo"].description == "Say the text back." and tools["echo"].server == "toy"
    schema = tools["nested"].input_schema
    item = schema["$defs"]["Item"]
    assert item["properties"]["qty"]["type"] == "integer" and schema["$defs"]["Order"]["properties"]["notes"]
    assert toy_hub.call("toy", "echo", {"text": "héllo"}, timeout_s=5).text == "héllo"
    assert toy_hub.call("toy", "add", {"a": 1.5, "b": 2}, timeout_s=5).text == "3.5"
    order = {"order": {"item": {"name": "bolt", "qty": 3}, "notes": ["a", "b"]}}
    assert toy_hub.call("toy", "nested", order, timeout_s=5).text == "3 x bolt; notes: a, b"


def test_concurrent_calls_share_one_process(toy_hub):
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: toy_hub.call("toy", "echo", {"text": f"n{i}"}, 10), range(64)))
    assert [r.text for r in results] == [f"n{i}" for i in range(64)]
    assert not any(r.is_error for r in results)
    assert len(processes_with(TOY)) == 1


def test_tool_errors_timeouts_and_huge_results_come_back_as_results(toy_hub):
    failed = toy_hub.call("toy", "fail", {}, timeout_s=5)
    assert failed.is_error and "failed on purpose" in failed.text
    unknown = toy_hub.call("toy", "no_such_tool", {}, timeout_s=5)
    assert unknown.is_error and "no_such_tool" in unknown.text
    started = time.monotonic()
    hung = toy_hub.call("toy", "hang", {}, timeout_s=1)
    assert hung.is_error and hung.text == "timed out after 1 s" and time.monotonic() - started < 3
    huge = toy_hub.call("toy", "huge", {}, timeout_s=10)
    assert not huge.is_error and len(huge.text) == 16 * 65536  # the cut is the agent's, not the hub's
    assert toy_hub.call("toy", "echo", {"text": "still here"}, timeout_s=5).text == "still here"


def test_a_crash_restarts_the_server_once_then_calls_fail(toy_hub):
    first_pid = toy_hub.call("toy", "pid", {}, 5).text
    crashed = toy_hub.call("toy", "crash", {}, timeout_s=5)
    assert crashed.is_error and "crashing on purpose" in crashed.text and "restarted" in crashed.text
    after = toy_hub.call("toy", "pid", {}, 5)
    assert not after.is_error and after.text != first_pid
    assert {t.name for t in toy_hub.tools("toy")} >= {"echo", "crash"}
    again = toy_hub.call("toy", "crash", {}, timeout_s=5)
    assert again.is_error and "not restarted again" in again.text
    stopped = toy_hub.call("toy", "echo", {"text": "x"}, 5)
    assert stopped.is_error and stopped.text.startswith("MCP server toy stopped: it died again after a restart")


def test_a_server_that_died_between_calls_is_restarted_before_the_next_one(toy_hub):
    pid = int(toy_hub.call("toy", "pid", {}, 5).text)
    subprocess.run(["kill", "-9", str(pid)], check=True)
    time.sleep(0.5)
    result = toy_hub.call("toy", "echo", {"text": "after"}, 5)
    assert result == CallResult("after", False)


def test_non_text_contents_become_markers_and_structured_only_results_their_json():
    image = types.ImageContent(type="image", data=base64.b64encode(b"x" * 1234).decode(), mime_type="image/png")
    text = types.TextContent(type="text", text="caption")
    shown = result_text(types.CallToolResult(content=[text, image]))
    assert shown == CallResult("caption\n[image/png, 1234 bytes]", False)
    structured = types.CallToolResult(content=[], structured_content={"n": 1}, is_error=True)
    assert result_text(structured) == CallResult('{"n": 1}', True)


# --- start failures -------------------------------------------------------------------------------------


def test_start_failures_name_the_server_and_why():
    broken = stdio("broken", str(MCP_SERVERS / "broken_start.py"))
    with pytest.raises(McpServerError, match=r"MCP server `broken`: exited at start: broken_start: cannot open"):
        start(config(broken), "broken")
    missing = ServerConfig(name="tool", command="no-such-command-4711")
    with pytest.raises(McpServerError, match="MCP server `tool`: command not found: no-such-command-4711"):
        start(config(missing), "tool")
    refused = ServerConfig(name="web", url=f"http://127.0.0.1:{free_port()}/mcp")
    with pytest.raises(McpServerError, match=r"MCP server `web`: cannot reach http://127.0.0.1:\d+/mcp"):
        start(config(refused), "web")
    silent = ServerConfig(name="mute", command=sys.executable, args=("-c", "import time; time.sleep(60)"))
    started = time.monotonic()
    with pytest.raises(McpServerError, match="MCP server `mute`: timed out connecting after 1 s"):
        start(config(silent), "mute", timeout_s=1)
    assert time.monotonic() - started < 10  # the SDK's shutdown: stdin closed, 2 s, SIGTERM
    with pytest.raises(McpServerError, match=r"`nope` is not declared.*declared: broken"):
        McpHub(config(broken), ["nope"])


def test_one_failure_closes_the_servers_that_started():
    before = set(threading.enumerate())
    with pytest.raises(McpServerError, match="`broken`"):
        start(config(stdio("toy"), stdio("broken", str(MCP_SERVERS / "broken_start.py"))), "toy", "broken")
    assert processes_with(TOY) == [] and set(threading.enumerate()) <= before


def test_check_servers_reports_each_server_on_its_own():
    found = check_servers(config(stdio("toy"), stdio("broken", str(MCP_SERVERS / "broken_start.py"))),
                          ["toy", "broken", "ghost"], timeout_s=20)
    assert "echo" in {t.name for t in found["toy"]}
    assert found["broken"].startswith("MCP server `broken`: exited at start")
    assert "`ghost` is not declared" in found["ghost"]
    assert processes_with(TOY) == []


# --- streamable HTTP ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_toy():
    port = free_port()
    proc = subprocess.Popen([sys.executable, TOY, "--http", str(port)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_http_server_connects_by_url_and_answers(http_toy, monkeypatch):
    monkeypatch.setenv("TOY_TOKEN", "abc")
    web = ServerConfig(name="web", url=http_toy[0], headers={"Authorization": "Bearer ${TOY_TOKEN}"})
    before = set(threading.enumerate())
    with McpHub(config(web), ["web"], connect_timeout_s=20) as hub:
        assert hub.server_info("web")["version"] == "1.2.3"
        assert hub.call("web", "add", {"a": 2, "b": 3}, timeout_s=5).text == "5.0"
        with ThreadPoolExecutor(8) as pool:
            texts = [r.text for r in pool.map(lambda i: hub.call("web", "echo", {"text": str(i)}, 10), range(16))]
        assert texts == [str(i) for i in range(16)]
        assert hub.call("web", "fail", {}, timeout_s=5).is_error
    assert set(threading.enumerate()) <= before


def test_an_http_server_that_stops_gives_error_results_without_a_restart(http_toy):
    url, proc = http_toy
    with McpHub(config(ServerConfig(name="web", url=url)), ["web"], connect_timeout_s=20) as hub:
        assert hub.call("web", "echo", {"text": "up"}, timeout_s=5).text == "up"
        proc.terminate()
        proc.wait(timeout=10)
        for _ in range(2):
            started = time.monotonic()
            down = hub.call("web", "echo", {"text": "down"}, timeout_s=5)
            assert down.is_error and "web" in down.text and time.monotonic() - started < 6
