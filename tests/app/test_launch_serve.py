"""`python launch.py` starts the studio: flags, login, the warning on public addresses, a fast cold start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from studio.paths import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tmp_path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), "--port", str(port), "--db", str(tmp_path / "studio.duckdb"), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"STUDIO_RECIPES": str(tmp_path / "recipes"), "STUDIO_RUNS": str(tmp_path / "runs")}
        | (env or {}),
    )
    return proc, port


def wait_served(proc: subprocess.Popen, url: str, timeout: float = 60) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        assert proc.poll() is None, proc.communicate()
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return time.monotonic() - began
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} not served after {timeout} s")


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.terminate()
    return proc.communicate(timeout=30)


def test_no_command_starts_the_studio_fast_and_without_torch(tmp_path):
    proc, port = start(tmp_path)
    try:
        seconds = wait_served(proc, f"http://127.0.0.1:{port}/")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10) as resp:
            assert b"FireAct Studio" in resp.read()
    finally:
        out, err = stop(proc)
    assert f"http://127.0.0.1:{port}" in out and "warning" not in err
    assert seconds < 30, f"cold start took {seconds:.1f} s"


def test_heavy_libraries_load_only_for_jobs(tmp_path):
    code = ("import sys; from storage import Store; from studio.app.server import create_app; "
            f"create_app(Store({str(tmp_path / 'x.duckdb')!r})); "
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'unsloth', 'trl') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_public_address_without_login_warns_and_auth_requires_login(tmp_path):
    proc, port = start(tmp_path, "--host", "0.0.0.0")
    try:
        wait_served(proc, f"http://127.0.0.1:{port}/")
    finally:
        _, err = stop(proc)
    assert "warning: the studio listens on 0.0.0.0" in err and "--auth" in err

    proc, port = start(tmp_path, "--host", "0.0.0.0", env={"STUDIO_AUTH": "alice:secret"})
    try:
        wait_served(proc, f"http://127.0.0.1:{port}/")  # the login page
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10)
        assert denied.value.code == 401
    finally:
        out, err = stop(proc)
    assert "warning" not in err and "login required" in out


def test_bad_auth_is_a_clear_error(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--auth", "nopassword", "--db",
                          str(tmp_path / "x.duckdb")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--auth must be USER:PASSWORD" in res.stderr
