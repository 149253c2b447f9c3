"""Where the studio keeps its files: one place, so tests and users can move them with env vars."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "studio" / "tasks" / "data"
RECIPES_DIR = ROOT / "recipes"


def default_db() -> Path:
    """The DuckDB file: `STUDIO_DB` if set, else `storage/studio.duckdb`."""
    return Path(os.environ.get("STUDIO_DB", ROOT / "storage" / "studio.duckdb"))


def cache_dir() -> Path:
    """Derived files (search index, converted model): `STUDIO_CACHE` if set, else `.cache/`."""
    path = Path(os.environ.get("STUDIO_CACHE", ROOT / ".cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve(path: str | Path) -> Path:
    """Resolve a recipe path: absolute as given, relative from the studio's root folder."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else ROOT / p


def uploads_dir(store_path: str | Path | None = None) -> Path:
    """Files a user uploaded in the browser: `STUDIO_UPLOADS` if set, else `uploads/` beside the database."""
    chosen = os.environ.get("STUDIO_UPLOADS")
    if chosen:
        return Path(chosen)
    return Path(store_path or default_db()).parent / "uploads"


def runs_dir() -> Path:
    """Run folders (training data, checkpoints, adapters): `STUDIO_RUNS` if set, else `artifacts/runs/`."""
    path = Path(os.environ.get("STUDIO_RUNS", ROOT / "artifacts" / "runs"))
    path.mkdir(parents=True, exist_ok=True)
    return path
