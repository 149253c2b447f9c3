"""The recipe YAML keeps what the user wrote: a form edit changes only its field in the text (comments, order,
explicit defaults and whole sections stay); sections the recipe does not use are marked; a YAML syntax error
leaves the form as the last text that parsed, under a banner naming the line."""

from __future__ import annotations

import pytest
import yaml

from studio.app.schema_form import apply_form, data_to_values, form_changes, form_fields, parsed
from studio.paths import RECIPES_DIR
from studio.recipe.edit import DELETE, set_fields
from studio.recipe.io import RecipeError, parse_recipe
from studio.recipe.usage import unused_sections
from tests.support.yaml_edits import WRITTEN, changed_lines

RECIPES = sorted(RECIPES_DIR.glob("*.yaml"))
PATHS = [s.path for s in form_fields()]

# -- the round-trip function ------------------------------------------------------------------------------


def test_set_fields_changes_only_the_given_field():
    after = set_fields(WRITTEN, {"student.max_steps": 32})
    assert changed_lines(WRITTEN, after) == ["-  max_steps: 16", "+  max_steps: 32"]


def test_set_fields_makes_missing_mappings_and_removes_emptied_keys_keeping_comments():
    added = set_fields(WRITTEN, {"student.lora.r": 4, "teacher.max_tokens": 64})
    assert "  lora:\n    r: 4\n# the evaluation, as the paper\nevaluation:" in added  # comment stays above its section
    assert added.endswith("  few_shot_k: 3\nteacher:\n  max_tokens: 64\n")
    removed = set_fields(added, {"student.lora.r": DELETE, "teacher.max_tokens": DELETE})
    assert removed == WRITTEN
    gone = set_fields(WRITTEN, {"data.correct_only": DELETE})
    assert "data:" not in gone and "# my experiment: keep this comment\nname: kept-demo\nstudent:" in gone


def test_set_fields_changes_one_cell_of_a_table_and_keeps_its_comment():
    after = set_fields(WRITTEN, {"evaluation.sets": [{"task": "hotpotqa", "split": "eval250", "n": 30}]})
    assert changed_lines(WRITTEN, after) == ["-    - {task: hotpotqa, split: eval250, n: 20}   # the first 20",
                                             "+    - {task: hotpotqa, split: eval250, n: 30}   # the first 20"]
    grown = set_fields(WRITTEN, {"evaluation.sets": [{"task": "hotpotqa", "split": "eval250", "n": 20},
                                                     {"task": "bamboogle", "split": "test", "n": 5}]})
    assert changed_lines(WRITTEN, grown) == ["+    - {task: bamboogle, split: test, n: 5}"]


def test_values_written_read_back_the_same_with_the_studios_yaml_reader():
    values = {"name": "on", "description": "two\nlines: here", "student.learning_rate": 1e-05,
              "teacher.model": "yes", "data.method_mix": {"react": 2.0, "cot": 1.0}, "evaluation.noise_levels": [0.0]}
    data = yaml.safe_load(set_fields("name: x\n", values))
    for path, value in values.items():
        node = data
        for part in path.split("."):
            node = node[part]
        assert node == value and type(node) is type(value), path


def test_a_section_given_as_a_name_alone_opens_into_a_mapping():
    text = "name: x\nevaluation:\n  engine: llama.cpp   # on the CPU\n"
    values = data_to_values(parsed(text))
    assert values[PATHS.index("evaluation.engine.name")] == "llama.cpp"  # the form shows the shorthand's name
    values[PATHS.index("evaluation.engine.parallel")] = 4
    assert parse_recipe(apply_form(values, text)).evaluation.engine.model_dump(include={"name", "parallel"}) == \
        {"name": "llama.cpp", "parallel": 4}


def test_set_fields_refuses_a_text_that_is_not_a_mapping():
    with pytest.raises(RecipeError, match=r"YAML syntax error: .*\(line 3\)"):
        set_fields("name: x\nteacher: [oops\n", {"name": "y"})
    with pytest.raises(RecipeError, match="mapping"):
        set_fields("- a list\n", {"name": "y"})


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_the_form_of_every_example_recipe_leaves_its_text_as_it_is(path):
    text = path.read_text()
    values = data_to_values(parsed(text))
    assert form_changes(values, parsed(text)) == {}
    values[PATHS.index("name")] = "renamed"
    assert changed_lines(text, apply_form(values, text)) == [f"-name: {path.stem}", "+name: renamed"]


def test_a_recipe_without_a_name_shows_an_empty_name_not_a_placeholder():
    assert data_to_values({})[PATHS.index("name")] == ""


# -- unused sections --------------------------------------------------------------------------------------


def test_an_import_recipe_does_not_use_the_teacher_nor_the_task_mix():
    quickstart = parse_recipe((RECIPES_DIR / "quickstart.yaml").read_text())
    unused = unused_sections(quickstart)
    assert {"teacher", "tasks", "methods", "rounds"} <= set(unused)
    assert "import" in unused["teacher"] and "rounds.count is 0" in unused["rounds"]
    assert "trajectories.path" not in unused and "evaluation" not in unused

    evaluated = unused_sections({"trajectories": {"source": "import"}, "evaluation": {"agents": ["teacher"]}})
    assert "teacher" not in evaluated and "tasks" in evaluated  # the teacher is still evaluated
    generated = unused_sections({"rounds": {"count": 2}, "teacher": {"backend": "local"}})
    assert not {"teacher", "tasks", "methods", "rounds", "teacher.engine"} & set(generated)
    assert "trajectories.path" in generated  # read by an import only


# -- through the studio's API -----------------------------------------------------------------------------


def form_of(client, text: str) -> tuple[str, list[dict], dict[str, dict], dict]:
    """yaml_to_form: (problems, field updates, table help updates by path, banner update). The sections'
    accordions are layout, which the API leaves out: the browser test checks them."""
    problems, *updates = client.predict(text, api_name="/yaml_to_form")
    tables = [s.path for s in form_fields() if s.kind == "table"]
    helps = updates[len(PATHS): len(PATHS) + len(tables)]
    return problems, updates[: len(PATHS)], dict(zip(tables, helps, strict=True)), updates[-1]


def test_form_to_yaml_changes_only_the_field_changed_in_the_form(served):
    client = served["client"]
    _, fields, _, _ = form_of(client, WRITTEN)
    values = [u.get("value") for u in fields]
    assert values[PATHS.index("student.max_steps")] == 16
    values[PATHS.index("student.max_steps")] = 32
    text, problems, *_ = client.predict(*values, WRITTEN, api_name="/form_to_yaml")
    assert changed_lines(WRITTEN, text) == ["-  max_steps: 16", "+  max_steps: 32"]
    assert "# my experiment: keep this comment" in text and "few_shot_k: 3" in text and "evaluation:" in text
    assert "valid recipe" in problems


def test_a_yaml_syntax_error_keeps_the_last_form_and_says_so(served):
    client = served["client"]
    broken = "name: x\nteacher: [oops\nstudent: {max_steps: 3}\n"
    problems, fields, helps, banner = form_of(client, broken)
    assert "YAML syntax error" in problems
    assert all("value" not in u for u in fields + list(helps.values()))  # nothing filled from a broken text
    assert banner["visible"] and "does not parse (line " in banner["value"] and "last version" in banner["value"]
    _, fields, _, _ = form_of(client, WRITTEN)
    values = [u.get("value") for u in fields]
    values[PATHS.index("student.max_steps")] = 32
    text, _, *rest = client.predict(*values, broken, api_name="/form_to_yaml")
    assert text == {"__type__": "update"} and rest[-1]["visible"]  # the user's text is left alone
    _, fields, _, banner = form_of(client, WRITTEN)
    assert not banner["visible"] and fields[PATHS.index("name")]["value"] == "kept-demo"


def test_unused_sections_are_marked_and_follow_the_yaml(served):
    client = served["client"]
    _, fields, helps, _ = form_of(client, "name: imp\ntrajectories: {source: import, path: x.json}\n")
    assert fields[PATHS.index("methods")]["info"].startswith("not used: trajectories come from an import")
    assert fields[PATHS.index("methods")]["elem_classes"] == ["field-unused"]
    assert "not used: trajectories come from an import" in helps["tasks"]["value"]
    assert "not used" not in helps["evaluation.sets"]["value"]
    assert fields[PATHS.index("trajectories.path")]["elem_classes"] == ["field-error"]  # used: x.json is missing
    _, fields, helps, _ = form_of(client, "name: gen\nrounds: {count: 1}\n")
    assert fields[PATHS.index("methods")]["elem_classes"] == [] and "not used" not in helps["tasks"]["value"]
    assert fields[PATHS.index("trajectories.path")]["info"].startswith("not used: read only by source: import")
