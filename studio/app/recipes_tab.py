"""Recipes tab: list, open, clone and create recipes; a form generated from the Recipe schema beside a YAML
editor, kept in sync both ways; validation problems shown at the fields they are about."""

from __future__ import annotations

import contextlib
import html
from typing import Any

import gradio as gr
import yaml

from studio.app import views
from studio.app.schema_form import (
    FieldSpec,
    Section,
    data_to_values,
    field_problems,
    form_fields,
    form_sections,
    new_recipe_yaml,
    values_to_yaml,
)
from studio.app.views import Studio
from studio.recipe.io import RecipeError

SHORT_KINDS = ("int", "float", "bool", "choice", "text")
PER_ROW = 3


def _component(spec: FieldSpec, value: Any) -> gr.components.Component:
    common = {"label": spec.label, "elem_id": "field-" + spec.path.replace(".", "-"), "interactive": True,
              "value": value}
    if spec.kind == "choice":
        choices = ([("(empty)", "")] if spec.optional else []) + [(c, c) for c in spec.choices]
        return gr.Dropdown(choices=choices, info=spec.help, **common)
    if spec.kind == "bool":
        return gr.Checkbox(info=spec.help, **common)
    if spec.kind in ("int", "float"):
        return gr.Number(info=spec.help, precision=0 if spec.kind == "int" else None, **common)
    if spec.kind == "multi":
        return gr.CheckboxGroup(choices=list(spec.choices), info=spec.help, **common)
    if spec.kind == "table":
        return gr.Dataframe(headers=[c.label for c in spec.columns], column_count=len(spec.columns),
                            type="array", datatype="str", **common)
    placeholder = "YAML value, e.g. {react: 2, cot: 1} or [0.0, 0.5]" if spec.kind == "yaml" else None
    lines = 2 if spec.path == "description" else 1
    return gr.Textbox(info=spec.help, lines=lines, placeholder=placeholder, **common)


def _table_help(spec: FieldSpec, problems: list[str] | None = None) -> str:
    cols = " · ".join(f"**{c.label}**: {html.escape(c.help)}" for c in spec.columns)
    text = f"{html.escape(spec.help)}<br><small>{cols}</small>"
    if problems:
        text = "".join(f'<div class="field-error-text">⚠ {html.escape(p)}</div>' for p in problems) + text
    return text


def _render(section: Section, values: dict[str, Any], fields: dict[str, Any], helps: dict[str, gr.Markdown]) -> None:
    """One component per field spec, short fields three to a row, nested models as accordions."""
    row: list[FieldSpec] = []

    def flush() -> None:
        if row:
            with gr.Row(equal_height=False):
                for s in row:
                    fields[s.path] = _component(s, values[s.path])
            row.clear()

    # a section's own fields first, then its nested models (tool.noise, student.lora) as accordions
    ordered = [i for i in section.items if not isinstance(i, Section)] + \
        [i for i in section.items if isinstance(i, Section)]
    for item in ordered:
        if isinstance(item, Section):
            flush()
            with gr.Accordion(f"{item.title} — {item.help}", open=item.path in ("trajectories",),
                              elem_id="section-" + item.path.replace(".", "-")):
                _render(item, values, fields, helps)
        elif item.kind in SHORT_KINDS and item.path != "description":
            row.append(item)
            if len(row) == PER_ROW:
                flush()
        else:
            flush()
            if item.kind == "table":
                with gr.Group():
                    fields[item.path] = _component(item, values[item.path])
                    helps[item.path] = gr.Markdown(_table_help(item), elem_classes=["table-help"])
            else:
                fields[item.path] = _component(item, values[item.path])
    flush()


def _problems_markdown(problems: list[str]) -> str:
    if not problems:
        return '<div class="recipe-ok">✓ valid recipe</div>'
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    return f'<div class="recipe-problems"><b>{len(problems)} problem(s)</b><ul>{items}</ul></div>'


def _field_updates(problems: list[str], values: list[Any] | None = None) -> list[Any]:
    """Updates for every field (then every table's help): the error at the field, else its description."""
    by_field, _ = field_problems(problems)
    specs = form_fields()
    out = []
    for i, spec in enumerate(specs):
        update: dict[str, Any] = {}
        if values is not None:  # None too: a key removed from the YAML clears its field
            update["value"] = values[i]
        if spec.kind != "table":
            msgs = by_field.get(spec.path)
            update["info"] = ("⚠ " + "; ".join(msgs)) if msgs else spec.help
            update["elem_classes"] = ["field-error"] if msgs else []
        out.append(gr.update(**update))
    for spec in specs:
        if spec.kind == "table":
            out.append(gr.update(value=_table_help(spec, by_field.get(spec.path))))
    return out


def _load_text(text: str) -> list[Any]:
    """YAML text -> [problems markdown, *field updates]: values where the text parses, problems at fields."""
    problems = views.check(text)
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError:
        data = None
    values = data_to_values(data) if isinstance(data, dict) else None
    return [_problems_markdown(problems), *_field_updates(problems, values)]


def _start_values(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    values = data_to_values(data if isinstance(data, dict) else {})
    return {spec.path: value for spec, value in zip(form_fields(), values, strict=True)}


def create_recipes_tab(studio: Studio) -> dict[str, Any]:
    """Build the Recipes tab; returns its components (fields by recipe path under `fields`)."""
    names = views.recipe_names(studio)
    first = "quickstart" if "quickstart" in names else (names[0] if names else None)
    try:
        start_text = views.read_recipe(studio, first) if first else new_recipe_yaml()
    except KeyError:
        start_text = new_recipe_yaml()
    with gr.Row(equal_height=False, elem_classes=["toolbar"]):
        recipe_list = gr.Dropdown(choices=names, value=first, label="saved recipes", scale=3,
                                  elem_id="recipe-list", allow_custom_value=True)
        open_btn = gr.Button("Open", scale=1, min_width=90, elem_id="recipe-open")
        clone_btn = gr.Button("Clone", scale=1, min_width=90, elem_id="recipe-clone")
        new_btn = gr.Button("New", scale=1, min_width=90, elem_id="recipe-new")
    fields: dict[str, Any] = {}
    helps: dict[str, gr.Markdown] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, elem_id="recipe-form"):
            gr.Markdown("Every field of the recipe, with its description. Editing the form rewrites the YAML "
                        "(keeping only what differs from the defaults); editing the YAML fills the form.",
                        elem_classes=["hint"])
            _render(form_sections(), _start_values(start_text), fields, helps)
        with gr.Column(scale=2, elem_id="recipe-yaml-column"):
            yaml_code = gr.Code(value=start_text, language="yaml", lines=24, max_lines=24, label="recipe YAML",
                                interactive=True, wrap_lines=True, elem_id="recipe-yaml")
            problems = gr.Markdown(_problems_markdown(views.check(start_text)), elem_id="recipe-problems")
            with gr.Row():
                validate_btn = gr.Button("Validate", elem_id="recipe-validate")
                save_btn = gr.Button("Save", variant="primary", elem_id="recipe-save")
            status = gr.Markdown(elem_id="recipe-status")
    specs = form_fields()
    field_list = [fields[s.path] for s in specs]
    help_list = [helps[s.path] for s in specs if s.kind == "table"]
    flag_outputs = [*field_list, *help_list]

    def form_to_yaml(*values_and_text: Any) -> list[Any]:
        """The form as YAML; the editor's text is kept (comments and all) when it already says the same."""
        *values, current = values_and_text
        text = values_to_yaml(values)
        problems_now = views.check(text)
        same = not problems_now and views.same_recipe(current or "", text)
        return [gr.skip() if same else text, _problems_markdown(problems_now), *_field_updates(problems_now)]

    def yaml_to_form(text: str) -> list[Any]:
        return _load_text(text)

    def validate(text: str) -> list[Any]:
        problems_now = views.check(text)
        return [_problems_markdown(problems_now), *_field_updates(problems_now)]

    def open_recipe(name: str) -> list[Any]:
        try:
            text = views.read_recipe(studio, name)
        except KeyError as exc:
            return [gr.skip(), f"⚠ {views.esc(str(exc))}", gr.skip(), *(gr.skip() for _ in flag_outputs)]
        return [text, f"opened **{views.esc(name)}**", *_load_text(text)]

    def clone_recipe(name: str, text: str) -> list[Any]:
        """A copy of the recipe in the editor (else of the one picked in the list) under a free name."""
        source = (text or "").strip() and text
        if not source and name:
            with contextlib.suppress(KeyError):
                source = views.read_recipe(studio, name)
        try:
            data = yaml.safe_load(source) if source else None
        except yaml.YAMLError:
            data = None
        base = data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else name
        new_name = views.clone_name(studio, base or "recipe")
        cloned = views.renamed(source, new_name) if isinstance(data, dict) else new_recipe_yaml(new_name)
        return [cloned, f"cloned as **{new_name}** (not saved yet)", *_load_text(cloned)]

    def new_recipe() -> list[Any]:
        text = new_recipe_yaml(views.unused_name(studio, "my-recipe"))
        return [text, "new recipe (not saved yet)", *_load_text(text)]

    def save(text: str) -> list[Any]:
        try:
            recipe, path = views.save_recipe(studio, text)
        except RecipeError as exc:
            return ["⚠ not saved: fix the problems first", *validate_problems(exc.problems), gr.skip()]
        shown = path.name if path.parent == views.RECIPES_DIR else str(path)
        return [f"✓ saved **{views.esc(recipe.name)}** to {views.esc(shown)} and the store",
                *validate_problems([]), gr.update(choices=views.recipe_names(studio), value=recipe.name)]

    def validate_problems(problems_now: list[str]) -> list[Any]:
        return [_problems_markdown(problems_now), *_field_updates(problems_now)]

    quiet = {"show_progress": "hidden"}
    # Textboxes send `input` on key presses only: `blur` also catches text pasted with the mouse.
    texts = [fields[s.path].blur for s in specs if s.kind in ("text", "yaml")]
    gr.on([f.input for f in field_list] + texts, form_to_yaml, inputs=[*field_list, yaml_code],
          outputs=[yaml_code, problems, *flag_outputs], api_name="form_to_yaml", trigger_mode="always_last", **quiet)
    yaml_code.input(yaml_to_form, inputs=yaml_code, outputs=[problems, *flag_outputs], api_name="yaml_to_form",
                    trigger_mode="always_last", **quiet)
    validate_btn.click(validate, inputs=yaml_code, outputs=[problems, *flag_outputs], api_name="validate_recipe")
    loaded = [yaml_code, status, problems, *flag_outputs]
    gr.on([open_btn.click, recipe_list.input], open_recipe, inputs=recipe_list, outputs=loaded,
          api_name="open_recipe")
    clone_btn.click(clone_recipe, inputs=[recipe_list, yaml_code], outputs=loaded, api_name="clone_recipe")
    new_btn.click(new_recipe, outputs=loaded, api_name="new_recipe")
    saved = save_btn.click(save, inputs=yaml_code, outputs=[status, problems, *flag_outputs, recipe_list],
                           api_name="save_recipe")
    return {"recipe_list": recipe_list, "yaml": yaml_code, "problems": problems, "status": status,
            "fields": fields, "save": save_btn, "saved": saved}
