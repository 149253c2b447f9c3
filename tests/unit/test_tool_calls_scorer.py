"""The `tool_calls` scorer: expected calls from a column of a custom file, matched with type coercion, in any order
or in order, EM and F1 over duplicates; bad gold named by column and question, at validation and at scoring."""

from __future__ import annotations

import json

import pytest

from studio.recipe.io import RecipeError, parse_recipe
from studio.recipe.schema import Scorer
from studio.scoring.calls import read_calls, same_value, score_calls
from studio.scoring.scorer import make_scorer, recipe_scorer
from studio.tasks.loaders import Question, load_custom


def call(name: str, **arguments: object) -> dict:
    return {"name": name, "arguments": arguments}


@pytest.mark.parametrize("a, b", [("3", 3), (3.0, 3), ("true", True), (" Paris ", "Paris"), ("1.0", "1"),
                                  ("null", None), ({"n": "2"}, {"n": 2}), ('{"n": 2}', {"n": 2.0}), (["1"], [1])])
def test_values_match_up_to_how_they_are_written(a, b):
    assert same_value(a, b) and same_value(b, a)


@pytest.mark.parametrize("a, b", [("3", 4), ("true", False), (True, 1), ("paris", "Paris"),
                                  ({"n": 1}, {"n": 1, "m": 2}), ([1, 2], [2, 1]), ("three", 3)])
def test_values_that_differ(a, b):
    assert not same_value(a, b)


def test_any_order_unless_ordered():
    made = [call("b", x=2), call("a", x="1")]
    expected = [call("a", x=1), call("b", x=2)]
    assert score_calls(made, expected, False, 1.0).em == 1.0
    in_order = score_calls(made, expected, True, 1.0)
    assert in_order.em == 0.0 and in_order.f1 == 0.5 and not in_order.correct


def test_f1_over_matched_calls_and_duplicates_count():
    expected = [call("search", q="x"), call("search", q="x"), call("add", a=1, b=2)]
    twice = score_calls([call("search", q="x"), call("add", a="1", b="2")], expected, False, 1.0)
    assert twice.em == 0.0 and twice.f1 == pytest.approx(0.8)  # precision 2/2, recall 2/3
    extra = score_calls([*expected, call("search", q="y")], expected, False, 0.8)
    assert extra.f1 == pytest.approx(6 / 7) and extra.correct and not extra.em  # right from pass_score of F1
    assert score_calls([], [], False, 1.0).em == 1.0 and score_calls([], expected, False, 1.0).f1 == 0.0


def test_calls_are_read_in_the_shapes_models_write():
    openai_shape = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]
    bare = '{"name": "f", "arguments": {"x": 1}}'
    assert read_calls(json.dumps(openai_shape)) == read_calls(bare) == [call("f", x=1)]


@pytest.fixture
def calls_file(tmp_path):
    path = tmp_path / "calls.jsonl"
    rows = [{"id": "w", "question": "Weather in Paris?", "answer": "-", "calls": [call("weather", city="Paris")]},
            {"id": "s", "question": "Add 2 and 3", "answer": json.dumps([call("add", a=2, b=3)])}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_scorer_reads_the_calls_column_else_the_answer(calls_file):
    weather, add = load_custom(calls_file)
    scorer = make_scorer(Scorer(kind="tool_calls"), "custom")
    assert scorer.scores_calls
    assert scorer(json.dumps([call("weather", city="Paris")]), weather).correct
    assert not scorer(json.dumps([call("weather", city="Rome")]), weather).correct
    assert scorer(json.dumps([call("add", a="2", b=3.0)]), add).em == 1.0  # no `calls` cell: the answer
    assert scorer("[]", add).f1 == 0.0
    assert scorer("It is sunny.", weather).error.startswith("the agent's calls are not a JSON list of calls")


def test_bad_gold_names_the_column_and_question(tmp_path, calls_file):
    bad = tmp_path / "bad.csv"
    bad.write_text('question,answer,expected\nWeather?,-,"[{""name"": ""weather"", ""arguments"": 3}]"\n')
    (question,) = load_custom(bad)
    score = make_scorer(Scorer(kind="tool_calls", calls="expected"), "custom")("[]", question)
    assert score.error == ("question custom-0: column 'expected' of expected calls: the arguments of call 1 are not "
                           "a JSON object")
    with pytest.raises(RecipeError) as err:
        parse_recipe(f"name: x\ntasks:\n  - task: custom\n    path: {bad}\n    scorer: {{kind: tool_calls, "
                     "calls: expected}\n")
    assert err.value.problems == ["tasks[0]: scorer `tool_calls`: question custom-0: column 'expected' of expected "
                                  "calls: the arguments of call 1 are not a JSON object (line 3)"]
    with pytest.raises(RecipeError, match="scorer `tool_calls` is for task `custom`"):
        parse_recipe("name: x\ntasks:\n  - task: hotpotqa\n    scorer: tool_calls\n")


def test_the_recipe_scorer_says_which_questions_score_calls(calls_file):
    recipe = parse_recipe(f"name: x\ntasks:\n  - task: custom\n    path: {calls_file}\n    scorer: {{kind: tool_calls, "
                          "ordered: true}\n  - task: hotpotqa\n")
    scorer = recipe_scorer(recipe)
    weather = load_custom(calls_file)[0]
    hotpot = Question("hotpotqa-dev-0", "hotpotqa", "dev", "Who?", "Ed Wood")
    assert scorer.scores_calls and scorer.wants_calls(weather) and not scorer.wants_calls(hotpot)
    assert scorer(weather, json.dumps([call("weather", city="Paris")])).correct
