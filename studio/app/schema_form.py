"""The recipe form, derived from the Recipe schema: which fields, of what kind, with which label and help.

No Gradio here: this module turns `Recipe.model_fields` into a flat list of `FieldSpec`s (one per form
input, in schema order, grouped in sections), converts between the form's values and the recipe's
YAML, and maps `RecipeError.problems` back to the fields they are about. The Recipes tab only builds one
component per spec and calls these functions.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from studio.recipe.edit import DELETE, set_fields
from studio.recipe.io import RecipeError
from studio.recipe.schema import Recipe
from studio.recipe.usage import recipe_defaults

# Kinds of form input: one component type each in the UI.
Kind = Literal["text", "int", "float", "bool", "choice", "multi", "table", "yaml"]


@dataclass(frozen=True)
class FieldSpec:
    """One input of the form: `path` is the dotted recipe path (`student.lora.r`)."""

    path: str
    label: str
    help: str
    kind: Kind
    optional: bool = False
    choices: tuple[str, ...] = ()
    columns: tuple[FieldSpec, ...] = ()  # for `table`: one spec per column (a list of models)


@dataclass(frozen=True)
class Section:
    """A group of fields: the recipe's top level, or one nested model (teacher, student.lora, ...)."""

    path: str
    title: str
    help: str
    items: tuple[FieldSpec | Section, ...] = field(default_factory=tuple)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        return (args[0] if len(args) == 1 else Union[tuple(args)]), optional  # noqa: UP007
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _spec(path: str, name: str, annotation: Any, description: str | None) -> FieldSpec:
    inner, optional = _unwrap_optional(annotation)
    origin, args = get_origin(inner), get_args(inner)
    help_text = description or ""
    if origin is Literal:
        return FieldSpec(path, name, help_text, "choice", optional, tuple(map(str, args)))
    if inner is bool:
        return FieldSpec(path, name, help_text, "bool", optional)
    if inner is int:
        return FieldSpec(path, name, help_text, "int", optional)
    if inner is float:
        return FieldSpec(path, name, help_text, "float", optional)
    if inner is str:
        return FieldSpec(path, name, help_text, "text", optional)
    if origin is list and len(args) == 1:
        (item,) = args
        if get_origin(item) is Literal:
            return FieldSpec(path, name, help_text, "multi", optional, tuple(map(str, get_args(item))))
        if _is_model(item):
            columns = tuple(_spec(f"{path}.{n}", n, f.annotation, f.description) for n, f in item.model_fields.items())
            return FieldSpec(path, name, help_text, "table", optional, columns=columns)
    # dicts, lists of numbers, unions: a YAML value typed inline, e.g. `{react: 2, cot: 1}`.
    return FieldSpec(path, name, help_text, "yaml", optional)


def _section(model: type[BaseModel], path: str, title: str, help_text: str) -> Section:
    items: list[FieldSpec | Section] = []
    for name, info in model.model_fields.items():
        sub = f"{path}.{name}" if path else name
        inner, _ = _unwrap_optional(info.annotation)
        if _is_model(inner):
            items.append(_section(inner, sub, name, info.description or ""))
        else:
            items.append(_spec(sub, name, info.annotation, info.description))
    return Section(path, title, help_text, tuple(items))


@cache
def form_sections() -> Section:
    """The whole form: the recipe's own fields, then one section per nested model, in schema order."""
    return _section(Recipe, "", "recipe", Recipe.__doc__ or "")


def _leaves(section: Section) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for item in section.items:
        out += _leaves(item) if isinstance(item, Section) else [item]
    return out


@cache
def form_fields() -> tuple[FieldSpec, ...]:
    """Every input of the form in a fixed order: the order of the UI's component list."""
    return tuple(_leaves(form_sections()))


def _get(data: Any, path: str) -> tuple[Any, bool]:
    """The value at a dotted path, and whether it is there; a section given as a bare string is its `name`
    (`engine: llama.cpp`)."""
    for part in path.split("."):
        if isinstance(data, str) and part == "name":
            return data, True
        if not isinstance(data, dict) or part not in data:
            return None, False
        data = data[part]
    return data, True


def default_value(spec: FieldSpec) -> Any:
    """The schema's default of a field (none for `name`: a recipe without one shows an empty name)."""
    return _get(recipe_defaults(), spec.path)[0]


# -- values <-> recipe data -------------------------------------------------------------------------------


def _inline_yaml(value: Any) -> str:
    if value is None:
        return ""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip().removesuffix("...")\
        .strip()


def _cell_in(spec: FieldSpec, value: Any) -> Any:
    """A table cell as the user typed it -> the recipe value (None: leave the key out)."""
    if value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip()):
        return None
    if spec.kind in ("int", "float") and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value  # left as typed: validation names the cell
        return int(number) if spec.kind == "int" and number.is_integer() else number
    if spec.kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value.strip() if isinstance(value, str) else value


def to_input(spec: FieldSpec, value: Any) -> Any:
    """A recipe value -> what the field's component shows."""
    if spec.kind == "table":
        rows = value if isinstance(value, list) else []
        return [[("" if (cell := row.get(c.label) if isinstance(row, dict) else None) is None else cell)
                 for c in spec.columns] for row in rows]
    if spec.kind == "yaml":
        return _inline_yaml(value)
    if spec.kind == "multi":
        return [v for v in value if v in spec.choices] if isinstance(value, list) else []
    if spec.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                return float(value) if value is not None else None
            except (TypeError, ValueError):
                return None
        return value
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "choice":
        return "" if value is None else str(value)
    return "" if value is None else str(value)


def from_input(spec: FieldSpec, value: Any) -> tuple[Any, bool]:
    """What the component holds -> (recipe value, present). Empty optional fields are left out."""
    if spec.kind == "table":
        rows = value.values.tolist() if hasattr(value, "values") and hasattr(value, "columns") else (value or [])
        out = []
        for row in rows:
            cells = {c.label: _cell_in(c, v) for c, v in zip(spec.columns, row, strict=False)}
            cells = {k: v for k, v in cells.items() if v is not None}
            if cells:
                out.append(cells)
        return out, True
    if spec.kind == "yaml":
        text = (value or "").strip()
        if not text:
            return None, not spec.optional
        try:
            return yaml.safe_load(text), True
        except yaml.YAMLError:
            return text, True  # validation reports it at the field
    if spec.kind in ("text", "choice"):
        text = "" if value is None else str(value)
        if spec.optional and not text.strip():
            return None, False
        return (text.strip() if spec.kind == "choice" else text), True
    if spec.kind in ("int", "float"):
        if value is None or value == "":
            return None, not spec.optional
        if spec.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        return value, True
    if spec.kind == "multi":
        return list(value or []), True
    return bool(value), True


def data_to_values(data: dict[str, Any]) -> list[Any]:
    """Recipe data (parsed YAML) -> one value per form field; missing keys show the schema default."""
    values = []
    for spec in form_fields():
        value, found = _get(data, spec.path)
        values.append(to_input(spec, value if found else default_value(spec)))
    return values


def form_changes(values: list[Any], data: dict[str, Any]) -> dict[str, Any]:
    """{path: new value, or DELETE for an emptied optional field} for each field whose form value differs from
    what the recipe data (the editor's text, parsed) gives it: the fields the user changed."""
    changes: dict[str, Any] = {}
    for spec, raw, shown in zip(form_fields(), values, data_to_values(data), strict=True):
        value, present = from_input(spec, raw)
        if (value, present) != from_input(spec, shown):
            changes[spec.path] = value if present else DELETE
    return changes


def parsed(text: str) -> dict[str, Any] | None:
    """The recipe text as data, read as the studio reads recipes (PyYAML); None when it is not a YAML mapping."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except (yaml.YAMLError, RecursionError):
        return None
    return {} if data is None else data if isinstance(data, dict) else None


def apply_form(values: list[Any], text: str) -> str:
    """The editor's text with only the fields the user changed in the form rewritten (comments, order and
    explicit defaults kept); RecipeError when the text is not a YAML mapping."""
    data = parsed(text)
    if data is None:
        raise RecipeError(["recipe: the YAML is not a mapping of fields"])
    return set_fields(text, form_changes(values, data))


def data_to_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def new_recipe_yaml(name: str = "my-recipe") -> str:
    return data_to_yaml({"name": name, "description": ""})


# -- problems -> fields ------------------------------------------------------------------------------------

PROBLEM = re.compile(r"^(?P<path>[A-Za-z_][\w.\[\]]*|recipe): (?P<message>.*)$")


def field_problems(problems: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split `RecipeError.problems` into {field path: messages} for the form's fields and the rest.

    `tasks[1].n: must be > 0 (line 7)` belongs to the `tasks` table (message kept whole, so the row shows);
    `teacher.max_tokens: must be > 0 (line 3)` to that field (message without the path); a section's own
    error (`trajectories: source `import` needs a `path``) to the fields it names in backticks. Every
    problem is also returned in the second list, for the summary next to the form.
    """
    paths = {s.path: s for s in form_fields()}
    sections = {s.path for s in all_sections(form_sections())}
    by_field: dict[str, list[str]] = {}
    for problem in problems:
        match = PROBLEM.match(problem)
        if not match:
            continue
        path, message = match["path"], match["message"]
        bare = path.split("[", 1)[0]
        if bare in paths:
            target = paths[bare]
            by_field.setdefault(bare, []).append(problem if target.kind == "table" or "[" in path else message)
        elif bare in sections:
            for name in re.findall(r"`([a-z_]+)`", message):
                if f"{bare}.{name}" in paths:
                    by_field.setdefault(f"{bare}.{name}", []).append(message)
    return by_field, list(problems)


def all_sections(section: Section) -> list[Section]:
    out = [section]
    for item in section.items:
        if isinstance(item, Section):
            out += all_sections(item)
    return out
