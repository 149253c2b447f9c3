"""The studio process's state every tab's views read: the one store, the recipes folders and the job queue.

Imports the store, the owner's config and the paths; nothing of the tabs.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from storage import Store
from studio.app.jobs import JobQueue
from studio.owner.config import OwnerConfig, active_config
from studio.paths import RECIPES_DIR, default_db


def recipes_dir(override: str | Path | None = None, store_path: Path | None = None) -> Path:
    """Where Save writes `NAME.yaml`: the argument, else `STUDIO_RECIPES`, else `recipes/` beside the database
    (never the repository's recipes/, whose shipped recipes stay as shipped)."""
    chosen = override or os.environ.get("STUDIO_RECIPES")
    if chosen:
        return Path(chosen)
    return Path(store_path or default_db()).parent / "recipes"


@dataclass
class Studio:
    """The studio process's state: the one store, the recipes folders (the user's, where Save writes, and the
    shipped ones, read-only) and the job queue."""

    store: Store
    recipes_dir: Path
    jobs: JobQueue
    tmp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fireact-studio-")))
    shipped_dir: Path | None = RECIPES_DIR

    @property
    def owner(self) -> OwnerConfig:
        """The owner's config, read anew each time, so an edit of the file applies without a restart."""
        return active_config(self.store.path)

    def shipped(self) -> set[str]:
        """Names of the recipes shipped with the studio (Save asks for another name)."""
        if self.shipped_dir is None or self.shipped_dir.resolve() == self.recipes_dir.resolve():
            return set()
        return {p.stem for p in self.shipped_dir.glob("*.yaml")}
