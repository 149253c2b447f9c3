"""The import stage: recorded trajectories from a file become one stored run, all or nothing (a tool-calling file's
malformed records are skipped and listed in the summary, never half imported)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from storage import Store
from studio.scoring.kinds import task_score
from studio.trajectories.files import read_episodes


@dataclass
class ImportSummary:
    run_id: int
    count: int
    by_method: dict[str, int]
    by_task: dict[str, int]
    scored: int
    skipped: int = 0
    skipped_lines: list[str] = field(default_factory=list)  # the first few, "file:line: why"

    def describe(self, source: str | Path) -> str:
        """One line for the import, and one per skipped record listed."""
        text = (f"run {self.run_id}: imported {self.count} trajectories from {source} (methods {self.by_method}, "
                f"tasks {self.by_task}, {self.scored} scored against gold)")
        if self.skipped:
            text += f"; skipped {self.skipped} malformed record(s):\n" + "\n".join(
                f"  {line}" for line in self.skipped_lines)
            if self.skipped > len(self.skipped_lines):
                text += f"\n  ... and {self.skipped - len(self.skipped_lines)} more"
        return text


SKIPPED_LISTED = 5


def import_trajectories(store: Store, path: str | Path, fmt: str, task: str | None = None,
                        name: str | None = None, recipe: dict | None = None,
                        recipe_name: str | None = None, fingerprint: str | None = None) -> ImportSummary:
    """Parse the whole file first, each known question's record scored against its gold by its task's scoring (a
    bad record raises before anything is stored), then store every trajectory and the run in one transaction."""
    path = Path(path)
    episodes, skipped = read_episodes(path, fmt, task, model=f"recorded:{path.name}", score=task_score)
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
        skipped=len(skipped),
        skipped_lines=[str(s) for s in skipped[:SKIPPED_LISTED]],
    )
