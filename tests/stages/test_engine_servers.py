"""Engines: their recipe settings, and the life of the servers the studio starts (llama.cpp's llama-server here;
vLLM's absence): each on a port of its own, even when started at once; stopped with their job, with their
owner, on cancel; a crash fails the episodes in flight, which a rerun retries."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError

from studio.errors import Cancelled
from studio.llm.engines import EngineError, resolved_name, vllm_command, vllm_server
from studio.llm.llama_cpp import LlamaCppError, ServerProcess, binary, free_port, llama_server
from studio.paths import ROOT
from studio.recipe.fingerprint import fingerprint
from studio.recipe.schema import Engine, Recipe
from tests.support.processes import processes_with


def recipe(**evaluation) -> Recipe:
    return Recipe(name="engines", evaluation={"sets": [{"task": "hotpotqa", "split": "eval250", "n": 6}],
                                              "agents": ["prompted"], "max_steps": 2, **evaluation})


def test_engine_by_name_alone_and_server_needs_a_url():
    assert recipe(engine="llama.cpp").evaluation.engine.name == "llama.cpp"
    with pytest.raises(ValidationError, match="base_url"):
        Engine(name="server")
    assert Engine(name="server", base_url="http://fleet:8000/v1").adapter_name == "finetuned"


def test_validate_points_at_the_engine_field(cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nevaluation:\n  engine:\n    name: server\n")
    done = cli("validate", str(path))
    assert done.returncode == 2
    assert "evaluation.engine" in done.stderr and "base_url" in done.stderr and "Traceback" not in done.stderr


def test_fingerprints_ignore_how_an_engine_runs_but_not_which():
    plain = recipe()
    assert fingerprint(recipe(engine={"name": "auto", "parallel": 4, "threads": 1}), "evaluate") == \
        fingerprint(plain, "evaluate")
    assert fingerprint(recipe(engine="transformers"), "evaluate") != fingerprint(plain, "evaluate")
    # a remote teacher runs on no engine of ours: its engine setting leaves generation and training alone
    remote = Recipe(name="engines", teacher={"engine": "transformers"})
    assert fingerprint(remote, "train") == fingerprint(Recipe(name="engines"), "train")
    local = Recipe(name="engines", teacher={"backend": "local", "engine": "transformers"})
    assert fingerprint(local, "generate") != fingerprint(Recipe(name="engines", teacher={"backend": "local"}),
                                                          "generate")


def test_missing_llama_cpp_names_the_setup_step(monkeypatch):
    import studio.llm.llama_cpp as llama_cpp

    monkeypatch.setattr(llama_cpp.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LlamaCppError, match=r"llama-server is not installed: run `bash setup.sh`"):
        binary("llama-server")
    assert resolved_name(Engine()) == "transformers"  # auto falls back on a machine without llama.cpp


def test_auto_is_llama_cpp_on_this_cpu():
    assert resolved_name(Engine()) == "llama.cpp"


def test_vllm_absent_names_the_install_step():
    with pytest.raises(EngineError, match="vLLM is not installed here: pip install vllm"):
        vllm_server(Engine(name="vllm"), "bundled:gemma-3-270m", None)


def test_vllm_serves_the_adapter_as_a_lora_module(tmp_path):
    (tmp_path / "adapter_config.json").write_text('{"r": 8}')
    model = tmp_path / "base"  # a model folder (a Hugging Face id is fetched and checked first: test_trust_models)
    model.mkdir()
    cmd = vllm_command(Engine(name="vllm", parallel=32), str(model), str(tmp_path), 8123)
    assert cmd[cmd.index("serve") + 1] == str(model)
    assert cmd[cmd.index("--lora-modules") + 1] == f"finetuned={tmp_path}"
    assert cmd[cmd.index("--max-lora-rank") + 1] == "8" and "--enable-lora" in cmd
    assert cmd[cmd.index("--port") + 1] == "8123" and cmd[cmd.index("--max-num-seqs") + 1] == "32"


@pytest.mark.slow
def test_busy_port_is_a_one_line_error():
    from studio.llm.gguf_files import bundled_gguf

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LlamaCppError) as caught, llama_server(bundled_gguf(), port=port):
            pass
    assert str(caught.value) == f"port {port} on 127.0.0.1 is busy: stop what listens there or choose another port"


class _Answers(BaseHTTPRequestHandler):
    """Another program's server: 200 to every GET (a health check included), naming itself as `server.who`."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "object": "list", "data": [{"id": self.server.who}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _SharedPort(ThreadingHTTPServer):
    """A server that binds with SO_REUSEPORT, as `vllm serve` does: another such socket may share its port."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


@contextlib.contextmanager
def another_server(kind: type[ThreadingHTTPServer] = ThreadingHTTPServer, port: int = 0):
    """Another program's HTTP server on 127.0.0.1 (a free port unless given), answering as "not-ours";
    yields its port."""
    server = kind(("127.0.0.1", port), _Answers)
    server.who = "not-ours"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def served_model(server: ServerProcess) -> str:
    """The model name the server at `server.base_url` answers with (its alias): which server answers there."""
    with urllib.request.urlopen(server.base_url + "/models", timeout=60) as reply:
        return json.loads(reply.read())["data"][0]["id"]


def picks(monkeypatch, *ports: int) -> list[int]:
    """Make the automatic port picker return `ports` first, then free ports; returns the ports picked."""
    import studio.llm.llama_cpp as llama_cpp

    queue, picked, lock = list(ports), [], threading.Lock()

    def pick(host: str = "127.0.0.1") -> int:
        with lock:
            picked.append(queue.pop(0) if queue else free_port(host))
            return picked[-1]

    monkeypatch.setattr(llama_cpp, "free_port", pick)
    return picked


def taken_after_the_check(monkeypatch, port: int) -> None:
    """`port` passes the busy check (as if another program took it just after), though it is taken."""
    import studio.llm.llama_cpp as llama_cpp

    check = llama_cpp.port_is_free
    monkeypatch.setattr(llama_cpp, "port_is_free", lambda host, p: p == port or check(host, p))


@pytest.mark.slow
def test_servers_started_at_once_each_get_a_port_of_their_own(monkeypatch):
    """Three llama-servers started at once on automatic ports, all three first picking the same port (two
    playground lanes once did, and one lane failed with "port ... is busy"): each comes up on a port of its own
    and answers there as itself, all three running together."""
    from studio.llm.gguf_files import bundled_gguf
    from studio.llm.llama_cpp import _post

    same = free_port()
    picked = picks(monkeypatch, same, same, same)
    together = threading.Barrier(3)

    def run(i: int) -> tuple[int, str, str]:
        try:  # in the thread that uses it: a server stops with the thread that started it
            with llama_server(bundled_gguf(), parallel=1, ctx_per_slot=256, threads=1, alias=f"server-{i}") as server:
                together.wait()  # all three up at once
                root = f"http://{server.host}:{server.port}"
                text = _post(f"{root}/completion", {"prompt": "1, 2, 3,", "n_predict": 2}, timeout_s=120)["content"]
                found = (server.port, served_model(server), text)
                together.wait()  # none stops (freeing its port) before all have answered
                return found
        except BaseException:
            together.abort()
            raise

    with ThreadPoolExecutor(3) as pool:
        found = list(pool.map(run, range(3)))
    ports = [port for port, _, _ in found]
    assert len(set(ports)) == 3 and same in ports, (found, picked)
    assert [name for _, name, _ in found] == ["server-0", "server-1", "server-2"]
    assert all(text.strip() for _, _, text in found), found
    assert len(picked) >= 5  # two of them were started again, on fresh ports


@pytest.mark.slow
def test_an_automatic_port_taken_at_start_is_left_for_a_fresh_one(monkeypatch):
    """The port picked is taken: by a listener already there (the busy check sees it), or by another program's
    server that took it just after the check and answers health itself (its answers must not pass for the
    server's). The server comes up on a fresh port; a port the user gave that is taken that way is still the
    clear one-line error."""
    from studio.llm.gguf_files import bundled_gguf

    with socket.socket() as held, another_server() as theirs:
        held.bind(("127.0.0.1", 0))
        held.listen()
        picked = picks(monkeypatch, held.getsockname()[1], theirs)
        taken_after_the_check(monkeypatch, theirs)
        with llama_server(bundled_gguf(), parallel=1, ctx_per_slot=256, threads=1, alias="ours") as server:
            assert server.port not in (held.getsockname()[1], theirs) and picked[:2] == [held.getsockname()[1],
                                                                                         theirs]
            assert served_model(server) == "ours"
        with pytest.raises(LlamaCppError) as caught, llama_server(bundled_gguf(), parallel=1, ctx_per_slot=256,
                                                                  threads=1, port=theirs):
            pass
    assert str(caught.value) == f"port {theirs} on 127.0.0.1 is busy: stop what listens there or choose another port"


SHARING_SERVER = textwrap.dedent("""
    import socket, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Mine(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"mine")

    class Shared(HTTPServer):
        def server_bind(self):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    Shared(("127.0.0.1", int(sys.argv[1])), Mine).serve_forever()
    """)


def test_a_port_shared_with_another_server_is_left_for_a_fresh_one(monkeypatch):
    """Any server (here a small Python one) binding with SO_REUSEPORT, as `vllm serve` does, can listen on a
    port another such server listens on, and the two would split the requests: started on an automatic port
    shared that way, it is started again on a fresh one; on a given port, that port is busy."""
    with another_server(_SharedPort) as theirs:
        picks(monkeypatch, theirs)
        taken_after_the_check(monkeypatch, theirs)
        with ServerProcess(lambda port: [sys.executable, "-c", SHARING_SERVER, str(port)], "127.0.0.1", None,
                           name="sharing", health_path="/", startup_timeout_s=60) as server:
            assert server.port != theirs
            for _ in range(8):  # a shared port would send some of these to the other server
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=30) as reply:
                    assert reply.read() == b"mine"
        with pytest.raises(LlamaCppError, match=f"port {theirs} on 127.0.0.1 is busy"), \
                ServerProcess(lambda port: [sys.executable, "-c", SHARING_SERVER, str(port)], "127.0.0.1", theirs,
                              name="sharing", health_path="/", startup_timeout_s=60):
            pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_server_stops_with_its_block_and_when_its_owner_is_killed(tmp_path):
    from studio.llm.gguf_files import bundled_gguf

    with llama_server(bundled_gguf(), parallel=1, ctx_per_slot=512) as server:
        pid = server.pid
        assert _alive(pid)
    assert not _alive(pid)

    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from studio.llm.gguf_files import bundled_gguf
        from studio.llm.llama_cpp import llama_server
        with llama_server(bundled_gguf(), parallel=1, ctx_per_slot=512) as server:
            print(server.pid, flush=True)
            time.sleep(600)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(owner.stdout.readline())
        assert _alive(pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert _gone_within(pid, 10), "llama-server outlived its killed owner"
    finally:
        owner.kill()


@pytest.mark.slow
def test_crashed_server_fails_the_episodes_in_flight_and_a_rerun_retries_them(store):
    from studio.stages.evaluate import evaluate

    port = free_port()
    spec = recipe(engine={"name": "llama.cpp", "parallel": 2, "port": port, "ctx_per_slot": 2048})
    killed = []

    def crash_after_first(p) -> None:
        if p.done == 1 and not killed:
            killed.extend(processes_with(f"--port {port}"))
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    first = evaluate(spec, store, progress=crash_after_first)
    assert killed, "the test found no llama-server to crash"
    assert first.failed >= 1 and first.ran == 6
    run = store.get_run(first.run_id)
    assert run["status"] == "failed" and "rerun to retry" in run["error"]
    errors = store.query("SELECT error FROM trajectories WHERE run_id = ? AND error IS NOT NULL", [first.run_id])
    assert len(errors) == first.failed and all("connection error" in e["error"] for e in errors)

    again = evaluate(spec, store)
    assert again.run_id == first.run_id and again.failed == 0 and again.ran == first.failed
    rows = store.query("SELECT count(*) AS n, count(DISTINCT key) AS keys, count(error) AS errors FROM trajectories "
                       "WHERE run_id = ?", [first.run_id])[0]
    assert rows == {"n": 6, "keys": 6, "errors": 0}
    assert processes_with(f"--port {port}") == []


@pytest.mark.slow
def test_cancel_stops_the_engine_server(store):
    import threading

    from studio.stages.evaluate import evaluate

    port = free_port()
    spec = recipe(engine={"name": "llama.cpp", "parallel": 1, "port": port, "ctx_per_slot": 2048})
    cancel = threading.Event()
    seen = []

    def cancel_after_first(p) -> None:
        seen.extend(processes_with(f"--port {port}"))
        cancel.set()

    with pytest.raises(Cancelled):
        evaluate(spec, store, progress=cancel_after_first, cancel=cancel)
    assert seen, "the server was not running during the stage"
    assert processes_with(f"--port {port}") == []
    assert store.list_runs()[-1]["status"] == "cancelled"


def test_shared_prefix_is_whole_lines():
    from studio.llm.engines import shared_prefix

    assert shared_prefix(["ex 1\nex 2\nQuestion: a?", "ex 1\nex 2\nQuestion: b?"]) == "ex 1\nex 2\n"
    assert shared_prefix(["abc", "abd"]) == "" and shared_prefix(["same\n", "same\n"]) == "same\n"


@pytest.mark.slow
def test_primed_slots_reuse_the_shared_examples():
    """The few-shot examples are computed once and every slot starts from them (llama-server's slot restore;
    with Gemma 3's sliding-window layers this needs --swa-full)."""
    from studio.agents.prompts import prompt_prefix
    from studio.llm.engines import shared_prefix
    from studio.llm.gguf_files import bundled_gguf
    from studio.llm.llama_cpp import _post, prime_slots
    from studio.tasks import draw

    prompts = [prompt_prefix("hotpotqa", "react", q.question, 3) + "Thought:"
               for q in draw("hotpotqa", "eval250", None, 3, None)]
    with llama_server(bundled_gguf(), parallel=3, ctx_per_slot=2048) as server:
        prime_slots(server, shared_prefix(prompts), 3)
        root = f"http://{server.host}:{server.port}"
        cached = [_post(f"{root}/completion", {"prompt": p, "n_predict": 1, "id_slot": i})["timings"]
                  for i, p in enumerate(prompts)]
    assert all(t["cache_n"] > 500 and t["prompt_n"] < 60 for t in cached), cached
