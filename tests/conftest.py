"""Shared fixtures: a fresh DuckDB file per test, the public data beside the project, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
FINETUNE = SHARED / "fireact" / "data" / "finetune"


@pytest.fixture
def store(tmp_path):
    from storage import Store

    with Store(tmp_path / "studio.duckdb") as s:
        yield s


@pytest.fixture
def cli(tmp_path):
    """Run `launch.py` in a subprocess against a test database; returns the CompletedProcess."""

    def run(*args: str, db: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "launch.py"), *args, "--db", str(db or tmp_path / "cli.duckdb")],
            capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        )

    return run
