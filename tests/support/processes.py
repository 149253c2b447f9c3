"""The processes a test started, found by their command line (a worker, a server), to check they are gone."""

from __future__ import annotations

from pathlib import Path


def processes_with(text: str) -> list[int]:
    """Pids of the processes whose command line (arguments joined by spaces) contains `text`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                pids.append(int(proc.name))
    return pids
