"""The import stage: recorded trajectories from a file become one stored run, all or nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from storage import Store
from studio.trajectories.files import episodes_from_file


@dataclass
class ImportSummary:
    run_id: int
    count: int
    by_method: dict[str, int]
    by_task: dict[str, int]
    scored: int


def import_trajectories(store: Store, path: str | Path, fmt: str, task: str | None = None,
                        name: str | None = None, recipe: dict | None = None,
                        recipe_name: str | None = None, fingerprint: str | None = None) -> ImportSummary:
    """Parse the whole file first (a bad record raises before anything is stored), then store every
    trajectory and the run in one transaction."""
    path = Path(path)
    episodes = episodes_from_file(path, fmt, task, model=f"recorded:{path.name}")
    with store.transaction():
        run_id = store.create_run(name or f"import {path.name}", "import", recipe, recipe_name,
                                  fingerprint=fingerprint)
        store.set_run_status(run_id, "running")
        store.add_episodes(run_id, episodes)
        store.set_run_status(run_id, "done", artifact=str(path))
    return ImportSummary(
        run_id=run_id,
        count=len(episodes),
        by_method=dict(Counter(e.method for e in episodes)),
        by_task=dict(Counter(e.task for e in episodes)),
        scored=sum(e.em is not None for e in episodes),
    )
