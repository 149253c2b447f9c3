"""The Recipes tab's views: the recipes by name (the user's folder, the shipped ones, the store's copies), reading,
checking, saving and cloning one, and what its tools can give the agents. Also what the other tabs load a recipe by.

Imports the recipe, the owner's checks, the form's YAML helpers and the stages' tool check.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from studio.app.schema_form import new_recipe_yaml, parsed
from studio.app.views.markdown import esc, plural
from studio.app.views.state import Studio
from studio.errors import StudioError
from studio.owner import checks
from studio.owner.config import OwnerConfigError
from studio.recipe.edit import set_fields
from studio.recipe.io import RecipeError, parse_recipe
from studio.recipe.schema import Recipe


def recipe_names(studio: Studio) -> list[str]:
    """Recipes in the recipes folders and in the store, by name."""
    files = {p.stem for p in studio.recipes_dir.glob("*.yaml")} if studio.recipes_dir.is_dir() else set()
    return sorted(files | studio.shipped() | set(studio.store.list_recipes()))


def read_recipe(studio: Studio, name: str) -> str:
    """The recipe's YAML text as saved (comments kept): the user's file, else the shipped one, else the store's
    copy. Only by name: a path typed in is refused, so nothing outside the recipes folders is ever opened."""
    try:
        checks.recipe_name(name)
    except checks.Refused as exc:
        raise KeyError(str(exc)) from None
    folders = [studio.recipes_dir] + ([studio.shipped_dir] if name in studio.shipped() else [])
    for folder in folders:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    text = studio.store.get_recipe(name)
    if text is None:
        raise KeyError(f"no recipe named {name!r}")
    return text


class ShippedName(RecipeError):
    """Save was asked to write over a recipe shipped with the studio."""


def parse(studio: Studio, text: str, source: str = "recipe") -> Recipe:
    """The recipe text validated against this studio's owner config (RecipeError naming field and line; a config
    file that does not load is the one problem then, as no recipe can be checked against it)."""
    try:
        owner = studio.owner
    except OwnerConfigError as exc:
        raise RecipeError([f"cannot check the recipe: the studio's config: {exc}"]) from None
    return parse_recipe(text, source, owner)


def save_recipe(studio: Studio, text: str) -> tuple[Recipe, Path]:
    """Validate, then write `NAME.yaml` in the user's recipes folder and the store's copy; RecipeError when
    invalid, or when the name is a shipped recipe's (those stay as shipped: Clone saves a copy)."""
    recipe = parse(studio, text)
    if recipe.name in studio.shipped():
        raise ShippedName([f"{recipe.name} is a recipe shipped with the studio; save your version under a new "
                           "name (Clone gives one)"])
    studio.recipes_dir.mkdir(parents=True, exist_ok=True)
    path = studio.recipes_dir / f"{recipe.name}.yaml"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    studio.store.save_recipe(recipe.name, text)
    return recipe, path


def load_saved(studio: Studio, name: str) -> Recipe:
    return parse(studio, read_recipe(studio, name), f"{name}.yaml")


def load_or_problem(studio: Studio, name: str | None) -> Recipe | str:
    """The saved recipe, or one plain line saying why it cannot be used: none picked, none saved, not valid."""
    if not name:
        return "⚠ pick a recipe first (save one in the Recipes tab)"
    try:
        return load_saved(studio, name)
    except KeyError:
        return f"⚠ no recipe named {esc(name)}: save it in the Recipes tab first"
    except RecipeError as exc:
        return f"⚠ recipe {esc(name)} is not valid: {esc('; '.join(exc.problems))}"


def renamed(text: str, name: str) -> str:
    """The recipe text with another name (a clone), comments and layout kept; a new recipe of that name when
    the text is not a YAML mapping."""
    try:
        return set_fields(text, {"name": name})
    except RecipeError:
        return new_recipe_yaml(name)


# Status lines about the recipe in the editor (Open, Clone, New, Save): an edit makes them stale.
EDITOR_STATUS = ("opened ", "cloned as ", "new recipe", "✓ saved ", "editing ")


def edit_status(studio: Studio, previous: str, text: str) -> str | None:
    """The status line after an edit of the editor's text: a line about the recipe there ("cloned as X (not saved
    yet)") says what is being edited now, under its current name; None keeps any other line (an upload's `path:`
    to write, a problem) and one that still holds (the text is the saved recipe's)."""
    if not (previous or "").startswith(EDITOR_STATUS):
        return None
    data = parsed(text) or {}
    name = data.get("name") if isinstance(data.get("name"), str) else None
    if name is None:
        return "editing a recipe with no name yet (not saved)"
    try:
        if read_recipe(studio, name) == text:
            return None
    except KeyError:
        pass
    return f"editing **{esc(name)}** (not saved yet)"


def unused_name(studio: Studio, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first name no saved recipe has."""
    taken = set(recipe_names(studio))
    candidate, i = base, 2
    while candidate in taken:
        candidate, i = f"{base}-{i}", i + 1
    return candidate


def clone_name(studio: Studio, name: str) -> str:
    return unused_name(studio, f"{name or 'recipe'}-copy")


def unparsed(studio: Studio, text: str) -> str | None:
    """Why the form cannot follow a recipe text (its YAML syntax error, with the line), or None when the text
    is a YAML mapping the form can show."""
    if parsed(text) is not None:
        return None
    problems = check(studio, text)
    return problems[0].removeprefix("recipe: ") if problems else "the YAML is not a mapping of fields (line 1)"


def check(studio: Studio, text: str) -> list[str]:
    """Problems of a recipe text, one line each with field and line; empty when it is valid."""
    try:
        parse(studio, text)
    except RecipeError as exc:
        return exc.problems
    return []


def _code_spans(escaped: str) -> str:
    """Escaped text with its `name` spans as code."""
    return re.sub(r"`([^`<>]*)`", r"<code>\1</code>", escaped)


def tools_check_html(studio: Studio, text: str) -> str:
    """What the recipe in the editor can give its agents, as one HTML block for a Markdown component: the MCP
    config in use, the servers a recipe may name in `mcp:`, and per entry of its tool list either its tools
    (name, description, arguments schema) or the line saying why not; the recipe's problems when it is not
    valid. Every name and description escaped."""
    from studio.stages.tools_check import check_tools

    e = html.escape
    try:
        recipe = parse(studio, text)
    except RecipeError as exc:
        items = "".join(f"<li>{e(p)}</li>" for p in exc.problems)
        return (f'<div class="tools-check recipe-problems"><b>The tools cannot be checked: the recipe is not '
                f"valid</b><ul>{items}</ul></div>")
    try:
        servers = sorted(studio.owner.servers)
        found = check_tools(recipe, studio.store.path)
    except StudioError as exc:  # the MCP config file is wrong
        return f'<div class="tools-check recipe-problems"><b>MCP config</b>: {e(str(exc))}</div>'
    config = e(str(found.config)) if found.config else "none (the built-in servers calculator and search only)"
    parts = [f"<div><b>MCP config</b>: {config}</div>",
             f"<div><b>Servers a recipe can name</b> (<code>mcp: NAME</code>): "
             f"{', '.join(f'<code>{e(s)}</code>' for s in servers)}</div>"]
    if not found.entries:
        parts.append("<div>The recipe gives its agents no tools.</div>")
    for label, tools in found.entries:
        head = _code_spans(e(label))
        if isinstance(tools, str):
            parts.append(f'<div class="tools-entry tools-failed"><b>{head}</b>: ⚠ {_code_spans(e(tools))}</div>')
            continue
        listed = "".join(
            f"<li><code>{e(spec.name)}</code> — {e(' '.join(spec.description.split()))}<br><small>arguments: "
            f"<code>{e(json.dumps(spec.input_schema, sort_keys=True))}</code></small></li>" for spec in tools)
        parts.append(f'<div class="tools-entry"><b>{head}</b>: ✓ {plural(len(tools), "tool")}<ul>{listed}</ul></div>')
    failed = len(found.failures)
    verdict = (f'<div class="recipe-problems"><b>{failed} tool list {"entry" if failed == 1 else "entries"} cannot '
               "be offered</b>: a run of this recipe would not start</div>" if failed else
               '<div class="recipe-ok">✓ every tool can be offered</div>')
    return f'<div class="tools-check">{"".join(parts)}{verdict}</div>'
