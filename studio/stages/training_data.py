"""A recipe's training set from the store: the run holding its trajectories (generated or imported), those
that pass its data filters, and in a self-improvement round the student's kept attempts, weighted."""

from __future__ import annotations

import random
from typing import Any

from storage import Store
from studio.paths import resolve
from studio.recipe.fingerprint import fingerprint
from studio.recipe.schema import Data, Recipe
from studio.scoring.kinds import task_score
from studio.stages.runs import StageError, stored_tools
from studio.tools.tool import stored_specs
from studio.tools.toolbox import open_toolbox
from studio.train.examples import example_row
from studio.trajectories.files import episodes_from_file
from studio.trajectories.selection import kept, select


def training_rows(store: Store, run_ids: list[int], spec: Data) -> list[dict[str, Any]]:
    """Stored trajectories of the given runs that make the training set, in a stable order."""
    return select([r for run_id in run_ids for r in store.trajectories(run_id)], spec)


def run_tool_schemas(store: Store, run_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each run's offered tools as OpenAI function schemas (for writing its ReAct trajectories as tool calls): the
    tool list its agents were given, else the built-in search (a run of the `tool` section alone, an import)."""
    found = {}
    for run_id in run_ids:
        found[run_id] = [spec.function() for spec in stored_specs(stored_tools(store.get_run(run_id) or {}))]
    return found


def source_run(recipe: Recipe, store: Store) -> int | None:
    """The run holding the recipe's training trajectories, if it exists yet."""
    stage = "import" if recipe.trajectories.source == "import" else "generate"
    found = store.find_run(recipe.name, stage, fingerprint(recipe, stage))
    return found["id"] if found else None


def training_preview_rows(recipe: Recipe, store: Store) -> list[dict]:
    """Training rows for previews: from the stored source run, else straight from the recipe's import file."""
    source = source_run(recipe, store)
    if source is not None:
        rows = training_rows(store, [source], recipe.data)
    elif recipe.trajectories.source == "import":
        t = recipe.trajectories
        rows = [e.as_row() for e in episodes_from_file(resolve(t.path), t.format, t.task, score=task_score)[:20]]
    else:
        rows = []
    if not rows:
        raise StageError(f"recipe {recipe.name!r} has no training trajectories yet: run its generate stage first")
    return rows


def worker_rows(recipe: Recipe, store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the training worker reads them; in the `tools` format with their chat messages and the tools of
    the run each comes from. An import stores no tool list (nor does a row read straight from a file): its ReAct
    trajectories are offered the recipe's tools (its MCP servers connected for their schemas)."""
    listings: dict[int | None, list[dict] | None] = {}
    for run_id in {row.get("run_id") for row in rows}:
        run = store.get_run(run_id) if run_id is not None else None
        listings[run_id] = stored_tools(run) if run is not None else None
    if recipe.format == "tools" and None in listings.values():
        with open_toolbox(recipe, store) as tools:
            offered = [spec.listing() for spec in tools.specs]
        listings = {run_id: listing if listing is not None else offered for run_id, listing in listings.items()}
    return [example_row(row, recipe.format, listings[row.get("run_id")]) for row in rows]


def explore_run(recipe: Recipe, store: Store, round: int) -> dict[str, Any]:
    found = store.find_run(recipe.name, "explore", fingerprint(recipe, "explore", round))
    if found is None or found["status"] not in ("done", "failed"):
        raise StageError(f"round {round} of recipe {recipe.name!r} has not explored yet: run its rounds stage")
    return found


def student_rows(recipe: Recipe, store: Store, round: int) -> list[dict[str, Any]]:
    """The kept attempts of rounds 1 to `round`."""
    return [row for r in range(1, round + 1)
            for row in kept(store.trajectories(explore_run(recipe, store, r)["id"]), recipe.rounds)]


def _weighted(rows: list[dict[str, Any]], weight: float, rng: random.Random) -> list[dict[str, Any]]:
    """Each row `weight` times: the whole part by repetition, the fraction as a seeded sample."""
    whole = int(weight)
    return rows * whole + rng.sample(rows, round((weight - whole) * len(rows)))


def training_set(recipe: Recipe, store: Store, round: int = 0) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The rows round `round` trains on and how many came from the teacher and from the student. Round 0: the
    recipe's trajectories through its data filters; later rounds add every kept student attempt so far."""
    source = source_run(recipe, store)
    if source is None:
        raise StageError(f"recipe {recipe.name!r} has no trajectories yet: run its generate stage first")
    teacher = training_rows(store, [source], recipe.data)
    if not round:
        if not teacher:
            raise StageError(f"no training trajectories in run {source} pass the recipe's data filters")
        return teacher, {"teacher_examples": len(teacher), "student_examples": 0}
    rounds = recipe.rounds
    rng = random.Random(recipe.data.seed + round)
    ours = _weighted(teacher, rounds.teacher_weight, rng)
    theirs = _weighted(student_rows(recipe, store, round), rounds.student_weight, rng)
    if not ours + theirs:
        raise StageError(f"round {round} has nothing to train on: no teacher example passes the data filters and "
                         "no student attempt was kept (try more rounds.samples, a higher rounds.temperature or "
                         "rounds.keep: f1)")
    return ours + theirs, {"teacher_examples": len(ours), "student_examples": len(theirs)}
