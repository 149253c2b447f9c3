"""Which parts of a recipe its stages will not read, and why: the form shows them as unused, not as if
they applied (an import recipe's teacher and task mix, the rounds of a recipe with `rounds.count: 0`).

The rules follow the stages: `pipeline.trajectories` generates with the teacher over `tasks` x `methods`
only for `trajectories.source: generate`; `evaluate` runs the teacher only when it is one of
`evaluation.agents`; a remote (`openai`) teacher runs on no engine of ours; `rounds` runs `rounds.count`
rounds; `tracking.project` is read by the trackio backend only.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from studio.recipe.schema import Recipe


@cache
def recipe_defaults() -> dict[str, Any]:
    """Every setting's schema default, as recipe data; `name` has none (None)."""
    return {**Recipe(name="x").model_dump(mode="json"), "name": None}


def _setting(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of recipe data, else the schema's default (`engine: NAME` is its name)."""
    node: Any = data
    for part in path.split("."):
        if isinstance(node, str) and part == "name":
            return node
        if not isinstance(node, Mapping) or part not in node:
            node = recipe_defaults()
            for step in path.split("."):
                node = node[step]
            return node
        node = node[part]
    return node


def unused_sections(recipe: Recipe | Mapping[str, Any]) -> dict[str, str]:
    """{dotted path of a section or field: why no stage reads it} for a recipe or its (parsed, perhaps not yet
    valid) YAML data; empty when everything applies."""
    data = recipe.model_dump(mode="json") if isinstance(recipe, Recipe) else recipe
    unused: dict[str, str] = {}
    agents = _setting(data, "evaluation.agents")
    teacher_evaluated = isinstance(agents, list) and "teacher" in agents
    if _setting(data, "trajectories.source") == "import":
        for path in ("tasks", "methods"):
            unused[path] = "trajectories come from an import (trajectories.source: import)"
        if not teacher_evaluated:
            unused["teacher"] = "trajectories come from an import and the teacher is not one of evaluation.agents"
    else:
        for field in ("path", "format", "task"):
            unused[f"trajectories.{field}"] = "read only by source: import"
    if "teacher" not in unused and _setting(data, "teacher.backend") == "openai":
        unused["teacher.engine"] = "the teacher is an OpenAI-compatible endpoint (backend: openai)"
    if not _setting(data, "rounds.count"):
        unused["rounds"] = "rounds.count is 0: no self-improvement rounds"
    if _setting(data, "tools"):
        unused["tool"] = "`tools` lists the agent's tools (search settings go in its search entry)"
    if _setting(data, "tracking.backend") == "none":
        unused["tracking.project"] = "read only by the trackio backend"
    return unused
