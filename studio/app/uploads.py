"""Files a user uploads in the Recipes tab, copied into the studio's uploads folder: a recipe reads files only
inside the data roots (`studio.owner.checks.data_file`), and this folder is the one of them a browser can fill.

A file lands under a safe name (its basename, letters, digits, `.`, `_`, `-` only, never hidden) and never
over another file: the same name with other content gets a `-2`, `-3` suffix; the same content is reused."""

from __future__ import annotations

import filecmp
import html
import re
import shutil
import unicodedata
from pathlib import Path

from studio.app.views.markdown import esc
from studio.app.views.state import Studio
from studio.errors import StudioError, os_error_message
from studio.paths import ROOT, uploads_dir

MAX_BYTES = 50 * 1024 * 1024
DATA_SUFFIXES = (".csv", ".jsonl", ".json")
TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2")
SUFFIXES = DATA_SUFFIXES + TEMPLATE_SUFFIXES
MAX_STEM = 100
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _basename(name: str) -> str:
    """The last part of a name a browser sent, whichever separator it used."""
    return re.split(r"[/\\]", name)[-1]


def safe_name(original: str) -> str:
    """The name an upload is stored under: the basename of what the browser sent, accents dropped, other
    characters `_`, no leading `.` or `-` (no hidden files, nothing that reads as an option); StudioError
    unless it ends in one of SUFFIXES."""
    decomposed = unicodedata.normalize("NFKD", _basename(original))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    name = UNSAFE.sub("_", ascii_only).lstrip(".-")
    stem, dot, suffix = name.rpartition(".")
    if not dot or f".{suffix.lower()}" not in SUFFIXES:
        raise StudioError(f"the studio takes only {', '.join(SUFFIXES)} files, not {original!r}")
    stem = stem.strip("._-")[:MAX_STEM].rstrip("._-") or "upload"
    return f"{stem}.{suffix.lower()}"


def recipe_path(path: Path) -> str:
    """How a recipe names `path`: relative to the studio's folder when inside it (`data_file` resolves from
    there), else absolute."""
    resolved = path.resolve()
    return resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)


def _copy_new(source: Path, target: Path) -> bool:
    """Copy `source` to `target` unless a file has that name (False); a failed copy leaves nothing behind."""
    try:
        out = target.open("xb")  # exclusive: two uploads at once never write one file
    except FileExistsError:
        return False
    try:
        with out, source.open("rb") as inp:
            shutil.copyfileobj(inp, out)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return True


def save_upload(studio: Studio, source: str | Path, original_name: str) -> str:
    """Copy the uploaded file `source` (sent as `original_name`) into the uploads folder; returns the path a
    recipe gives to use it. StudioError with one line when the name, the size or the copy is refused."""
    name = safe_name(original_name)
    source = Path(source)
    try:
        size = source.stat().st_size
        if size > MAX_BYTES:
            raise StudioError(f"{name} is {size / 2**20:.1f} MiB; the studio takes uploads up to "
                              f"{MAX_BYTES // 2**20} MiB")
        folder = uploads_dir(studio.store.path)
        folder.mkdir(parents=True, exist_ok=True)
        stem, suffix = name.rsplit(".", 1)
        target, n = folder / name, 1
        while not _copy_new(source, target):
            if target.is_file() and not target.is_symlink() and filecmp.cmp(source, target, shallow=False):
                break  # uploaded before: that copy serves
            n += 1
            target = folder / f"{stem}-{n}.{suffix}"
    except OSError as exc:
        raise StudioError(f"cannot store the upload: {os_error_message(exc)}") from None
    return recipe_path(target)


def upload_markdown(original_name: str, path: str) -> str:
    """The status line after an upload: the exact recipe value that reads the file."""
    value = html.escape(path)
    where = (f"<code>chat_template: {value}</code> under <code>student</code>"
             if path.lower().endswith(TEMPLATE_SUFFIXES) else f"<code>path: {value}</code>")
    return f"✓ uploaded {esc(_basename(original_name))}: use {where} in the recipe"
