"""The Playground tab's views: the questions of a recipe's evaluation sets to pick from. (The answers stream from
`studio.stages.playground.ask`; whether a running job makes the playground wait: `runs.busy_message`.)

Imports the recipe's loading (the Recipes views) and the tasks' question draw.
"""

from __future__ import annotations

from studio.app.views.recipes import load_saved
from studio.app.views.state import Studio
from studio.recipe.io import RecipeError
from studio.tasks import draw

PICK_LIMIT = 50


def pick_choices(studio: Studio, name: str | None) -> list[tuple[str, str]]:
    """The first questions of the recipe's evaluation sets, to pick from."""
    if not name:
        return []
    try:
        recipe = load_saved(studio, name)
    except (RecipeError, KeyError):
        return []
    questions = [q for s in recipe.evaluation.sets
                 for q in draw(s.task, s.split, s.path, s.n, None, template=s.template)]
    return [(f"{q.task}: {q.question}", q.question) for q in questions[:PICK_LIMIT]]
