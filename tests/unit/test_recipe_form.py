"""The recipe form derived from the schema: every field, labels and help from the descriptions, YAML both ways."""

from __future__ import annotations

import pytest
import yaml

from studio.app.schema_form import (
    all_sections,
    apply_form,
    data_to_values,
    field_problems,
    form_fields,
    form_sections,
)
from studio.paths import RECIPES_DIR
from studio.recipe.io import RecipeError, parse_recipe
from studio.recipe.schema import Recipe, Student
from tests.support.owner import owner_config

RECIPES = sorted(RECIPES_DIR.glob("*.yaml"))


def test_every_schema_field_has_an_input_with_its_description():
    fields = {s.path: s for s in form_fields()}
    assert fields["student.lora.r"].help == Student.model_fields["lora"].annotation.model_fields["r"].description
    assert fields["name"].label == "name" and fields["name"].help == Recipe.model_fields["name"].description
    assert fields["tasks"].kind == "table" and [c.label for c in fields["tasks"].columns] == [
        "task", "split", "path", "template", "scorer", "examples", "n", "seed"]
    assert fields["methods"].kind == "multi" and set(fields["methods"].choices) == {"react", "cot", "reflexion", "io"}
    assert fields["data.method_mix"].kind == "yaml" and fields["trajectories.task"].optional
    assert all(s.help for s in form_fields())
    leaves = 0
    for info in Recipe.model_fields.values():
        nested = getattr(info.annotation, "model_fields", None)
        leaves += sum(len(getattr(f.annotation, "model_fields", {})) or 1 for f in nested.values()) if nested else 1
    assert len(fields) == leaves


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_form_round_trip_keeps_every_example_recipe(path):
    text = path.read_text()
    again = apply_form(data_to_values(yaml.safe_load(text)), "")  # the whole form written into an empty text
    owner = owner_config(allow_downloads=True)  # the paper's multitask recipe trains a Hugging Face model
    assert parse_recipe(again, owner=owner) == parse_recipe(text, owner=owner)


def test_the_form_writes_the_fields_it_changed_into_the_text_as_it_is():
    values = data_to_values({"name": "demo", "student": {"lora": {"r": 4}}, "data": {"method_mix": {"react": 2}}})
    assert yaml.safe_load(apply_form(values, "name: demo\n")) == {
        "name": "demo", "student": {"lora": {"r": 4}}, "data": {"method_mix": {"react": 2}}}
    written = "name: demo\nstudent: {epochs: 1.0}  # the default, written out\n"
    assert apply_form(data_to_values(yaml.safe_load(written)), written) == written


def test_problems_map_to_their_fields():
    with pytest.raises(RecipeError) as err:
        parse_recipe("name: demo\ntasks:\n  - task: hotpotqa\n    n: 0\nteacher: {max_tokens: 0}\n"
                     "trajectories: {source: import}\nstudent: {lr: 1}\n")
    by_field, all_problems = field_problems(err.value.problems)
    assert by_field["tasks"] == ["tasks[0].n: must be > 0 (line 4)"]
    assert by_field["teacher.max_tokens"] == ["must be > 0 (line 5)"]
    assert by_field["trajectories.path"] == ["source `import` needs a `path` (line 6)"]
    assert "student.lr: is not a recipe field (line 7)" in all_problems


def test_dimmed_help_shows_no_markup():
    """A table's help is read by a Markdown component, which reads no Markdown inside an HTML element: behind an
    unused field's note (a <div>) its columns' **names** and `code` showed as typed (issue #35.9). It is HTML in
    every state now, and an unused section's accordion label (plain text) drops the markup."""
    from studio.app.recipes_tab import _section_label, _table_help
    from studio.recipe.usage import unused_sections

    tasks = next(spec for spec in form_fields() if spec.path == "tasks")
    unused = unused_sections({"name": "x", "trajectories": {"source": "import"}, "tools": [{"search": {}}]})
    for shown in (_table_help(tasks), _table_help(tasks, unused=unused["tasks"]),
                  _table_help(tasks, ["tasks[0].n: must be positive"], unused["tasks"])):
        assert "**" not in shown and "`" not in shown, shown
        assert shown.startswith("<div>") and "<b>task</b>" in shown and "<code>custom</code>" in shown
    tool = next(section for section in all_sections(form_sections()) if section.path == "tool")
    label = _section_label(tool, unused["tool"])
    assert "`" not in label and "when tools is empty" in label and "not used: tools lists" in label, label
