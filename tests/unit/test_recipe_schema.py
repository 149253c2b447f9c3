"""The Recipe schema: YAML in, typed object out, errors with field path and line."""


import pytest

from studio.paths import RECIPES_DIR
from studio.recipe.io import RecipeError, dump_recipe, load_recipe, parse_recipe
from studio.recipe.schema import Recipe, Spec
from tests.support.owner import owner_config

RECIPES = sorted(RECIPES_DIR.glob("*.yaml"))


def problems(text: str) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text)
    return info.value.problems


def test_minimal_recipe_fills_defaults():
    recipe = parse_recipe("name: demo\n")
    assert recipe.tasks[0].task == "hotpotqa" and recipe.tasks[0].split == "dev"
    assert recipe.student.model == "bundled:gemma-3-270m"
    assert recipe.tool.backend == "local"


def test_dump_reads_back_equal():
    recipe = parse_recipe(
        "name: mix\ntasks:\n  - {task: strategyqa, split: train, n: 7, seed: 3}\n  - {task: mmlu, n: 2}\n"
        "methods: [react, cot, reflexion]\ndata: {method_mix: {react: 2, cot: 1}}\n"
        "student: {lora: {target_modules: [q_proj, v_proj]}, max_steps: 5}\n"
    )
    again = parse_recipe(dump_recipe(recipe))
    assert again == recipe
    assert again.student.lora.target_modules == ["q_proj", "v_proj"]


def test_validate_reports_field_and_line():
    text = "name: demo\ntasks:\n  - task: hotpotqa\n    n: 3\n  - task: mmlu\n    split: dev\n    n: 0\n"
    assert problems(text) == ["tasks[1].n: must be > 0 (line 7)"]


def test_unknown_field_is_named_with_its_line():
    found = problems("name: demo\nstudent:\n  lora:\n    rank: 8\n")
    assert found == ["student.lora.rank: is not a recipe field (line 4)"]


def test_every_problem_is_listed():
    text = "name: Bad Name\nmethods: [react, telepathy]\nteacher:\n  temperature: 9\n"
    found = problems(text)
    assert len(found) == 3
    assert found[0].startswith("name: must match") and found[0].endswith("(line 1)")
    assert found[1].startswith("methods[1]: must be one of") and found[1].endswith("(line 2)")
    assert found[2] == "teacher.temperature: must be <= 2 (line 4)"


def test_split_must_belong_to_task():
    assert problems("name: x\ntasks:\n  - task: bamboogle\n    split: dev\n") == [
        "tasks[0]: split must be one of test for task bamboogle (line 3)"
    ]


def test_api_key_field_takes_a_variable_name_not_a_key():
    found = problems("name: x\nteacher:\n  api_key_env: sk-abc123\n")
    assert found[0].startswith("teacher.api_key_env: must be the NAME of an environment variable")


def test_missing_file_is_an_error():
    found = problems("name: x\ntrajectories:\n  source: import\n  path: no/such/file.json\n")
    assert len(found) == 1 and found[0].startswith("trajectories.path: no/such/file.json is not a file in the "
                                                    "studio's data folders (") and found[0].endswith("(line 4)")


def test_a_path_too_long_for_the_file_system_is_an_error():
    found = problems(f"name: x\ntrajectories:\n  source: import\n  path: {'x' * 5000}\n")
    [line] = found
    assert line.startswith(f"trajectories.path: {'x' * 117}... is not a file in the studio's data folders (")
    assert line.endswith("(line 4)")


def test_a_custom_question_file_without_answers_is_refused(tmp_path):
    questions = tmp_path / "q.csv"
    questions.write_text("question\nWho?\n")
    found = problems(f"name: x\nevaluation:\n  sets:\n    - task: custom\n      path: {questions}\n")
    assert found == [f"evaluation.sets[0]: {questions}:1: missing column 'answer' (found 'question') (line 4)"]


def test_yaml_nested_too_deeply_is_an_error():
    assert problems("name: x\ndescription: " + "[" * 5000 + "]" * 5000) == [
        "<recipe>: YAML nested too deeply to be a recipe (line 1)"
    ]


def test_import_needs_a_path():
    assert problems("name: x\ntrajectories: {source: import}\n") == [
        "trajectories: source `import` needs a `path` (line 2)"
    ]


def test_yaml_syntax_error_names_line():
    found = problems("name: x\ntasks:\n  - task: [hotpotqa\n")
    assert len(found) == 1 and "YAML syntax error" in found[0]
    assert "(line 4; while parsing a flow sequence that starts on line 3)" in found[0]


def test_missing_required_name():
    assert problems("tasks: []\n") == ["name: is required (line 1)", "tasks: needs at least 1 item(s) (line 1)"]


def test_every_field_has_a_description():
    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            assert field.description, f"{prefix}{name} has no description"
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, Spec):
                walk(sub, f"{prefix}{name}.")

    walk(Recipe)


def test_load_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_shipped_recipes_are_valid(path):
    """On an owner's config that allows downloads: the paper's multitask recipe trains a Hugging Face model."""
    assert load_recipe(path, owner_config(allow_downloads=True)).name == path.stem
