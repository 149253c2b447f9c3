"""Files a user asked the studio to write: checked before any work starts, then replaced whole or not at all.

A failed write never leaves half a file behind, and a path that cannot be written is refused before a
run, a snapshot or an export is made, so nothing is stored for an output that never appears.
"""

from __future__ import annotations

import os
from pathlib import Path

from studio.errors import StudioError


class OutputError(StudioError, ValueError):
    """An output path that cannot be written; the message names it and says why."""


def temp_beside(target: Path) -> Path:
    """A hidden sibling to write first and rename over `target`: a rename within a folder is atomic."""
    return target.with_name(f".{target.name}.tmp-{os.getpid()}")


def _make_folder(folder: Path, label: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{label}: {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{label}: cannot create the folder {folder} ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{label}: folder {folder} is not writable")


def check_output_file(path: Path, label: str | None = None) -> Path:
    """`path` can be written as a file: not a folder, its folder made (if missing) and writable."""
    label = label or str(path)
    if path.is_dir():
        raise OutputError(f"{label}: is a folder; give a file name")
    _make_folder(path.parent, label)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{label}: file is not writable")
    return path


def check_output_folder(path: Path, label: str | None = None) -> Path:
    """`path` is a new or empty folder that can be written (made if missing)."""
    label = label or str(path)
    if path.is_dir() and any(path.iterdir()):
        raise OutputError(f"{label}: folder is not empty; choose a new folder")
    _make_folder(path, label)
    return path


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a sibling temp file, so readers see the old file or the whole new one."""
    tmp = temp_beside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
