"""What every stage shares: finding the run to resume, and reporting progress.

A stage's run is identified by its recipe's name and a fingerprint of the settings that stage reads,
so rerunning a recipe resumes (or skips) a stage whose settings did not change, and starts a new run
when they did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from storage import Store
from studio.recipe import Recipe

PIPELINE = ("generate", "train", "evaluate")  # a recipe's stages, in order

# The recipe sections each stage depends on, its upstream stages' included.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "generate": ("tasks", "methods", "teacher", "trajectories", "tool", "evaluation.sets"),
    "import": ("trajectories",),
    "train": ("tasks", "methods", "teacher", "trajectories", "tool", "evaluation.sets", "data", "student"),
    "evaluate": ("tasks", "methods", "teacher", "trajectories", "tool", "data", "student", "evaluation"),
}


class StageError(RuntimeError):
    """A stage cannot run as asked; the message says why and what to do."""


class Cancelled(Exception):
    """A stage stopped because its job was cancelled; what it finished is stored."""


@dataclass
class Progress:
    """A stage's counters, as the CLI's progress bar and the studio show them."""

    stage: str
    total: int
    done: int = 0
    failed: int = 0
    correct: int = 0
    cost: float = 0.0
    run_id: int | None = None
    loss: float | None = None


ProgressFn = Callable[[Progress], None]


# Settings that change how a stage runs, not what it produces: a rerun with new values resumes.
OPERATIONAL = {"teacher": ("concurrency", "timeout_s", "max_retries"), "student": ("checkpoint_every",)}


def fingerprint(recipe: Recipe, stage: str) -> str:
    """Hash of the settings `stage` reads: equal fingerprints mean the stage's output would be the same."""
    data = recipe.model_dump(mode="json")
    for section, fields in OPERATIONAL.items():
        for name in fields:
            data[section].pop(name)
    picked = {}
    for path in STAGE_SECTIONS[stage]:
        value = data
        for part in path.split("."):
            value = value[part]
        picked[path] = value
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


def open_run(store: Store, recipe: Recipe, stage: str) -> tuple[int, bool]:
    """The run to write `stage` into: the matching earlier run (resumed), else a new one."""
    key = fingerprint(recipe, stage)
    found = store.find_run(recipe.name, stage, key)
    if found is not None:
        return found["id"], True
    run_id = store.create_run(f"{recipe.name} {stage}", stage, recipe.model_dump(mode="json"), recipe.name,
                              fingerprint=key)
    return run_id, False
