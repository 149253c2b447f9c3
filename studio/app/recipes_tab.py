"""Recipes tab: list, open, clone and create recipes; a form generated from the Recipe schema beside a YAML
editor, kept in sync both ways; validation problems shown at the fields they are about; the owner's MCP config in
use, read again on Reload."""

from __future__ import annotations

import contextlib
import html
import re
from pathlib import Path
from typing import Any

import gradio as gr

from studio.app import uploads
from studio.app.schema_form import (
    FieldSpec,
    Section,
    all_sections,
    apply_form,
    data_to_values,
    field_problems,
    form_fields,
    form_sections,
    new_recipe_yaml,
    parsed,
)
from studio.app.views import owner as owner_views
from studio.app.views import recipes as views
from studio.app.views.markdown import esc, help_html, help_plain
from studio.app.views.state import Studio
from studio.errors import StudioError
from studio.recipe.io import RecipeError
from studio.recipe.usage import unused_sections

SHORT_KINDS = ("int", "float", "bool", "choice", "text")
PER_ROW = 3


def _info(spec: FieldSpec, problems: list[str] | None, unused: str | None) -> tuple[str, list[str]]:
    """A field's info line and classes: its error, else a note that no stage reads it, else its description."""
    if problems:
        return "⚠ " + "; ".join(problems), ["field-error"]
    if unused:
        return f"not used: {unused}. {spec.help}", ["field-unused"]
    return spec.help, []


def _component(spec: FieldSpec, value: Any, unused: str | None) -> gr.components.Component:
    info, classes = _info(spec, None, unused)
    common = {"label": spec.label, "elem_id": "field-" + spec.path.replace(".", "-"), "interactive": True,
              "value": value, "elem_classes": classes}
    if spec.kind == "choice":
        choices = ([("(empty)", "")] if spec.optional else []) + [(c, c) for c in spec.choices]
        return gr.Dropdown(choices=choices, info=info, **common)
    if spec.kind == "bool":
        return gr.Checkbox(info=info, **common)
    if spec.kind in ("int", "float"):
        return gr.Number(info=info, precision=0 if spec.kind == "int" else None, **common)
    if spec.kind == "multi":
        return gr.CheckboxGroup(choices=list(spec.choices), info=info, **common)
    if spec.kind == "table":
        return gr.Dataframe(headers=[c.label for c in spec.columns], column_count=len(spec.columns),
                            type="array", datatype="str", **common)
    placeholder = "YAML value, e.g. {react: 2, cot: 1} or [0.0, 0.5]" if spec.kind == "yaml" else None
    lines = 2 if spec.path == "description" else 1
    return gr.Textbox(info=info, lines=lines, placeholder=placeholder, **common)


def _table_help(spec: FieldSpec, problems: list[str] | None = None, unused: str | None = None) -> str:
    """A table field's help, its columns', and its note or errors: HTML throughout, in one element, so it reads the
    same in every state (a Markdown component reads no Markdown inside an HTML element: behind an unused note's
    <div>, the columns' **names** and `code` showed as typed)."""
    cols = " · ".join(f"<b>{html.escape(c.label)}</b>: {help_html(c.help)}" for c in spec.columns)
    text = f"{help_html(spec.help)}<br><small>{cols}</small>"
    if unused:
        text = f'<div class="unused-note">not used: {help_html(unused)}</div>' + text
    if problems:
        text = "".join(f'<div class="field-error-text">⚠ {html.escape(p)}</div>' for p in problems) + text
    return f"<div>{text}</div>"


def _section_label(section: Section, unused: str | None) -> str:
    """An accordion's label, plain text: its help's Markdown markup dropped."""
    return help_plain(f"{section.title} — {section.help}" + (f" — not used: {unused}" if unused else ""))


def _render(section: Section, values: dict[str, Any], unused: dict[str, str], fields: dict[str, Any],
            helps: dict[str, gr.Markdown], boxes: dict[str, gr.Accordion]) -> None:
    """One component per field spec, short fields three to a row, nested models as accordions."""
    row: list[FieldSpec] = []

    def flush() -> None:
        if row:
            with gr.Row(equal_height=False):
                for s in row:
                    fields[s.path] = _component(s, values[s.path], unused.get(s.path))
            row.clear()

    # a section's own fields first, then its nested models (tool.noise, student.lora) as accordions
    ordered = [i for i in section.items if not isinstance(i, Section)] + \
        [i for i in section.items if isinstance(i, Section)]
    for item in ordered:
        if isinstance(item, Section):
            flush()
            reason = unused.get(item.path)
            with gr.Accordion(_section_label(item, reason), open=item.path in ("trajectories",),
                              elem_id="section-" + item.path.replace(".", "-"),
                              elem_classes=["section-unused"] if reason else []) as box:
                _render(item, values, unused, fields, helps, boxes)
            boxes[item.path] = box
        elif item.kind in SHORT_KINDS and item.path != "description":
            row.append(item)
            if len(row) == PER_ROW:
                flush()
        else:
            flush()
            if item.kind == "table":
                with gr.Group():
                    fields[item.path] = _component(item, values[item.path], unused.get(item.path))
                    helps[item.path] = gr.Markdown(_table_help(item, unused=unused.get(item.path)),
                                                   elem_classes=["table-help"])
            else:
                fields[item.path] = _component(item, values[item.path], unused.get(item.path))
    flush()


def _problems_markdown(problems: list[str]) -> str:
    if not problems:
        return '<div class="recipe-ok">✓ valid recipe</div>'
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    return f'<div class="recipe-problems"><b>{len(problems)} problem(s)</b><ul>{items}</ul></div>'


def _form_updates(problems: list[str], values: list[Any] | None, unused: dict[str, str]) -> list[Any]:
    """Updates for every field, then every table's help, then every section: the error at the field, else a
    note on what no stage reads, else its description; the values too unless None."""
    by_field, _ = field_problems(problems)
    specs = form_fields()
    out = []
    for i, spec in enumerate(specs):
        update: dict[str, Any] = {}
        if values is not None:  # None too: a key removed from the YAML clears its field
            update["value"] = values[i]
        if spec.kind != "table":
            update["info"], update["elem_classes"] = _info(spec, by_field.get(spec.path), unused.get(spec.path))
        out.append(gr.update(**update))
    for spec in specs:
        if spec.kind == "table":
            out.append(gr.update(value=_table_help(spec, by_field.get(spec.path), unused.get(spec.path))))
    for section in _sections():
        reason = unused.get(section.path)
        out.append(gr.update(label=_section_label(section, reason),
                             elem_classes=["section-unused"] if reason else []))
    return out


def _sections() -> list[Section]:
    return all_sections(form_sections())[1:]


def _outputs_count() -> range:
    """One per form output: fields, table helps, sections."""
    return range(len(form_fields()) + sum(s.kind == "table" for s in form_fields()) + len(_sections()))


def _banner(problem: str | None) -> Any:
    """The note above the form while the YAML does not parse: the form shows the last text that did."""
    if problem is None:
        return gr.update(value="", visible=False)
    line = re.search(r"\(line (\d+)", problem)
    where = f" (line {line[1]})" if line else ""
    return gr.update(visible=True, value=(
        f'<div class="recipe-stale"><b>⚠ The YAML does not parse{where}: the form shows the last version that '
        f"did.</b> Fix the YAML to go on with the form; form edits wait until then.<br><small>{html.escape(problem)}"
        "</small></div>"))


def _view(studio: Studio, text: str, fill: bool = True) -> list[Any]:
    """YAML text -> [problems markdown, *form updates, banner]: the form filled from the text where it is a
    YAML mapping (`fill`), problems at their fields, unused sections marked; else the form left as it was
    under a banner naming the syntax error."""
    problems = views.check(studio, text)
    data = parsed(text)
    if data is None:
        return [_problems_markdown(problems), *(gr.skip() for _ in _outputs_count()),
                _banner(views.unparsed(studio, text))]
    values = data_to_values(data) if fill else None
    return [_problems_markdown(problems), *_form_updates(problems, values, unused_sections(data)), _banner(None)]


def _start(text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's first values and unused sections, from the first recipe's text."""
    data = parsed(text) or {}
    values = {spec.path: value for spec, value in zip(form_fields(), data_to_values(data), strict=True)}
    return values, unused_sections(data)


def create_recipes_tab(studio: Studio) -> dict[str, Any]:
    """Build the Recipes tab; returns its components (fields by recipe path under `fields`)."""
    def view(text: str, fill: bool = True) -> list[Any]:
        return _view(studio, text, fill)

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
    boxes: dict[str, gr.Accordion] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, elem_id="recipe-form"):
            banner = gr.Markdown(visible=False, elem_id="recipe-form-state")
            gr.Markdown("Every field of the recipe, with its description. Editing a field changes only that field "
                        "in the YAML (comments, order and the rest kept as written); editing the YAML fills the "
                        "form. Sections and fields the recipe does not use are dimmed and say why.",
                        elem_classes=["hint"])
            _render(form_sections(), *_start(start_text), fields, helps, boxes)
        with gr.Column(scale=2, elem_id="recipe-yaml-column"):
            yaml_code = gr.Code(value=start_text, language="yaml", lines=24, max_lines=24, label="recipe YAML",
                                interactive=True, wrap_lines=True, elem_id="recipe-yaml")
            problems = gr.Markdown(_problems_markdown(views.check(studio, start_text)), elem_id="recipe-problems")
            with gr.Row():
                validate_btn = gr.Button("Validate", min_width=90, elem_id="recipe-validate")
                tools_btn = gr.Button("Check tools", min_width=110, elem_id="recipe-check-tools")
                save_btn = gr.Button("Save", variant="primary", min_width=90, elem_id="recipe-save")
            with gr.Row(equal_height=False):
                upload_btn = gr.UploadButton("Upload a file", file_types=list(uploads.SUFFIXES), type="filepath",
                                             scale=1, min_width=130, elem_id="recipe-upload")
                gr.Markdown(f"CSV, JSONL, JSON or Jinja template, up to {uploads.MAX_BYTES // 2**20} MiB: stored "
                            "where recipes may read it", elem_classes=["hint"])
            status = gr.Markdown(elem_id="recipe-status")
            tools_found = gr.Markdown(elem_id="recipe-tools")
            with gr.Accordion("MCP config: the servers a recipe can name", open=False, elem_id="owner-panel"):
                owner = gr.HTML(owner_views.owner_config_html(studio), elem_id="owner-config")
                reload_btn = gr.Button("Reload", min_width=90, elem_id="owner-reload")
    specs = form_fields()
    field_list = [fields[s.path] for s in specs]
    help_list = [helps[s.path] for s in specs if s.kind == "table"]
    shown = [problems, *field_list, *help_list, *(boxes[s.path] for s in _sections()), banner]

    def form_to_yaml(*values_and_text: Any) -> list[Any]:
        """Only the fields changed in the form rewritten in the editor's text; nothing while it does not parse."""
        *values, current = values_and_text
        current = current or ""
        try:
            text = apply_form(values, current)
        except RecipeError as exc:
            why = views.unparsed(studio, current) or exc.problems[0].removeprefix("recipe: ")
            return [gr.skip(), _problems_markdown(views.check(studio, current)), *(gr.skip() for _ in _outputs_count()),
                    _banner(why)]
        return [gr.skip() if text == current else text, *view(text, fill=False)]

    def open_recipe(name: str) -> list[Any]:
        try:
            text = views.read_recipe(studio, name)
        except KeyError as exc:
            return [gr.skip(), f"⚠ {esc(str(exc))}", *(gr.skip() for _ in shown)]
        return [text, f"opened **{esc(name)}**", *view(text)]

    def clone_recipe(name: str, text: str) -> list[Any]:
        """A copy of the recipe in the editor (else of the one picked in the list) under a free name."""
        source = (text or "").strip() and text
        if not source and name:
            with contextlib.suppress(KeyError):
                source = views.read_recipe(studio, name)
        data = parsed(source or "")
        base = data.get("name") if data and isinstance(data.get("name"), str) else name
        new_name = views.clone_name(studio, base or "recipe")
        cloned = views.renamed(source or "", new_name)
        return [cloned, f"cloned as **{new_name}** (not saved yet)", *view(cloned)]

    def new_recipe() -> list[Any]:
        text = new_recipe_yaml(views.unused_name(studio, "my-recipe"))
        return [text, "new recipe (not saved yet)", *view(text)]

    def save(text: str) -> list[Any]:
        try:
            recipe, path = views.save_recipe(studio, text)
        except views.ShippedName as exc:
            return [f"⚠ not saved: {esc(str(exc))}", *view(text, fill=False), gr.skip()]
        except RecipeError:
            return ["⚠ not saved: fix the problems first", *view(text, fill=False), gr.skip()]
        where = str(path)
        return [f"✓ saved **{esc(recipe.name)}** to {esc(where)} and the store",
                *view(text, fill=False), gr.update(choices=views.recipe_names(studio), value=recipe.name)]

    def upload(file: str | None) -> str:
        """The uploaded file copied where a recipe may read it; the status says the recipe value to use."""
        if not file:
            return "⚠ pick a file to upload"
        try:
            path = uploads.save_upload(studio, file, Path(file).name)
        except StudioError as exc:
            return f"⚠ not uploaded: {esc(str(exc))}"
        return uploads.upload_markdown(Path(file).name, path)

    quiet = {"show_progress": "hidden"}
    # Textboxes send `input` on key presses only: `blur` also catches text pasted with the mouse.
    texts = [fields[s.path].blur for s in specs if s.kind in ("text", "yaml")]
    def follow_status(previous: str, text: str) -> Any:
        found = views.edit_status(studio, previous, text or "")
        return gr.skip() if found is None else found

    edited = [gr.on([f.input for f in field_list] + texts, form_to_yaml, inputs=[*field_list, yaml_code],
                    outputs=[yaml_code, *shown], api_name="form_to_yaml", trigger_mode="always_last", **quiet),
              yaml_code.input(view, inputs=yaml_code, outputs=shown, api_name="yaml_to_form",
                              trigger_mode="always_last", **quiet)]
    for event in edited:
        event.then(follow_status, inputs=[status, yaml_code], outputs=status, api_visibility="private", **quiet)
    validate_btn.click(lambda text: view(text, fill=False), inputs=yaml_code, outputs=shown,
                       api_name="validate_recipe")
    tools_btn.click(lambda text: views.tools_check_html(studio, text or ""), inputs=yaml_code, outputs=tools_found,
                    api_name="check_tools")
    loaded = [yaml_code, status, *shown]
    gr.on([open_btn.click, recipe_list.input], open_recipe, inputs=recipe_list, outputs=loaded,
          api_name="open_recipe")
    unpicked = {"fn": lambda: gr.update(value=None), "outputs": recipe_list, "api_visibility": "private"}
    clone_btn.click(clone_recipe, inputs=[recipe_list, yaml_code], outputs=loaded, api_name="clone_recipe").then(
        **unpicked)
    new_btn.click(new_recipe, outputs=loaded, api_name="new_recipe").then(**unpicked)
    saved = save_btn.click(save, inputs=yaml_code, outputs=[status, *shown, recipe_list], api_name="save_recipe")
    upload_btn.upload(upload, inputs=upload_btn, outputs=status, api_name="upload_file")
    reload_btn.click(lambda text: [owner_views.owner_config_html(studio), *view(text or "", fill=False)],
                     inputs=yaml_code, outputs=[owner, *shown], api_name="reload_owner_config")
    return {"recipe_list": recipe_list, "yaml": yaml_code, "problems": problems, "status": status,
            "fields": fields, "sections": boxes, "tools": tools_found, "banner": banner, "save": save_btn,
            "saved": saved, "owner": owner}
