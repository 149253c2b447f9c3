"""Scorers: every kind a recipe's `scorer:` names, custom files' extra columns and templates, Python scorers from
a real module file, and the judge against a scripted OpenAI-compatible server."""

from __future__ import annotations

import pytest
import yaml

from studio.owner.config import Endpoint
from studio.recipe.io import RecipeError, parse_recipe
from studio.recipe.schema import Recipe, Scorer
from studio.scoring.exact import Score, score
from studio.scoring.judge import Judge, judge_value
from studio.scoring.kinds import parse_number
from studio.scoring.registry import ScorerError
from studio.scoring.scorer import make_scorer, recipe_scorer
from studio.tasks.loaders import Question, load_custom, load_questions
from tests.support.openai_server import Reply
from tests.support.owner import owner_config

NO_KEY_ENV = "STUDIO_TEST_UNSET_KEY"


def problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, **kwargs)
    return err.value.problems


def q(answer: str, question: str = "What?", task: str = "custom", **extra: object) -> Question:
    return Question("custom-0", task, None, question, answer, extra)


def scored(spec: str | dict | None, prediction: str, question: Question, **kwargs: object) -> Score:
    scorer = Scorer.model_validate(spec) if spec is not None else None
    return make_scorer(scorer, question.task, **kwargs)(prediction, question)


# ---------------------------------------------------------------- custom files


@pytest.fixture
def units_csv(tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("question,answer,unit,tolerance\nHow far is it?,12,km,0.5\nHow heavy?,3,kg,0\n")
    return path


def test_a_custom_csv_keeps_every_other_column_and_its_path(units_csv):
    first, second = load_custom(str(units_csv))
    assert first.extra == {"unit": "km", "tolerance": "0.5"} and second.extra["unit"] == "kg"
    assert first.source == str(units_csv) and first.question == "How far is it?"
    assert first == Question(first.id, "custom", None, first.question, first.answer)  # extra and source: not identity


def test_a_custom_jsonl_keeps_values_as_read(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "Sum?", "answer": 3, "terms": [1, 2], "unit": "apples"}\n')
    [question] = load_custom(path)
    assert question.extra == {"terms": [1, 2], "unit": "apples"} and question.answer == "3"
    assert load_questions("hotpotqa")[0].extra == {} and load_questions("hotpotqa")[0].source is None


def test_a_template_makes_the_question_text(units_csv, tmp_path):
    first, _ = load_custom(units_csv, "{question} (answer in {unit})")
    assert first.question == "How far is it? (answer in km)" and first.extra["unit"] == "km"
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"question": "Sum?", "answer": 3, "terms": [1, 2]}\n')
    assert load_custom(jsonl, "{question} Terms: {terms}")[0].question == "Sum? Terms: [1, 2]"
    recipe = parse_recipe(f"name: x\ntasks:\n  - task: custom\n    path: {units_csv}\n    template: '{{question}} in "
                          "{unit}'\n")
    assert recipe.tasks[0].template == "{question} in {unit}"


def test_a_template_naming_a_missing_column_is_an_error_at_the_field(units_csv):
    found = problems(f"name: x\nevaluation:\n  sets:\n    - task: custom\n      path: {units_csv}\n"
                     "      template: '{question} in {units}'\n")
    assert len(found) == 1 and found[0].startswith("evaluation.sets[0].template: template names column 'units'")
    assert str(units_csv) in found[0] and "(line 6)" in found[0]


@pytest.mark.parametrize(("template", "message"), [
    ("{question", "bad template"), ("{0} {question}", "must name a column"), ("{question.upper}", "must name")])
def test_a_malformed_template_is_an_error_at_the_field(units_csv, template, message):
    [found] = problems(f"name: x\ntasks:\n  - task: custom\n    path: {units_csv}\n    template: '{template}'\n")
    assert found.startswith("tasks[0].template: ") and message in found


def test_a_template_on_a_shipped_task_is_refused():
    [found] = problems("name: x\ntasks:\n  - task: hotpotqa\n    template: '{question}'\n")
    assert found.startswith("tasks[0].template: is for task `custom`")


# ---------------------------------------------------------------- the schema


def test_the_short_form_and_the_defaults():
    recipe = parse_recipe("name: x\ntasks:\n  - task: hotpotqa\n    scorer: numeric\n")
    assert recipe.tasks[0].scorer == Scorer(kind="numeric") and recipe.evaluation.sets[0].scorer is None
    assert Scorer(kind="judge").passing == 0.5 and Scorer(kind="numeric").passing == 1.0
    assert Scorer(kind="judge", pass_score=0.8).passing == 0.8


def test_a_bad_regex_is_an_error_at_the_pattern():
    [found] = problems("name: x\ntasks:\n  - task: hotpotqa\n    scorer: {kind: regex, pattern: 'a(b'}\n")
    assert found.startswith("tasks[0].scorer.pattern: not a regular expression") and "(line 4)" in found
    [found] = problems("name: x\ntasks:\n  - task: hotpotqa\n    scorer: regex\n")
    assert found.startswith("tasks[0].scorer: scorer `regex` needs a `pattern`")


def test_judge_settings_are_checked():
    [key] = problems("name: x\ntasks:\n  - task: hotpotqa\n    scorer: {kind: judge, api_key_env: sk-123}\n")
    assert key.startswith("tasks[0].scorer.api_key_env: must be the NAME")
    [rubric] = problems("name: x\ntasks:\n  - task: hotpotqa\n    scorer: {kind: judge, rubric: 'Grade {answer}'}\n")
    assert rubric.startswith("tasks[0].scorer.rubric: {answer} is not one of")


def test_a_python_scorer_must_be_declared():
    text = "name: x\nevaluation:\n  sets:\n    - task: hotpotqa\n      scorer: {kind: python, name: unit}\n"
    [found] = problems(text, owner=owner_config(scorers={"units": {}, "dates": {}}))
    assert found.startswith("evaluation.sets[0].scorer.name: no scorer 'unit' is declared")
    assert "(declared: dates, units)" in found
    recipe = Recipe.model_validate(yaml.safe_load(text))  # built by code, unchecked: the run sets up its scorers
    with pytest.raises(ScorerError, match=r"^evaluation.sets\[0\].scorer: no scorer 'unit' .*declared: units\)$"):
        recipe_scorer(recipe, python_scorers={"units": {"module": "x.py"}})


# ---------------------------------------------------------------- the kinds


def test_exact_is_the_tasks_own_scoring():
    assert scored(None, "The Paris", q("Paris", task="hotpotqa")) == score("hotpotqa", "The Paris", "Paris")
    assert scored("exact", "Yes.", q("yes", task="strategyqa")).correct
    assert scored(None, "the answer is (C)", q("C", task="mmlu")).correct


@pytest.mark.parametrize(("text", "value"), [
    ("1,234.5", 1234.5), ("-3", -3.0), ("12%", 0.12), ("3/4", 0.75), ("$1,200", 1200.0), ("about 42 apples", 42.0),
    ("−7 degrees", -7.0), ("1e3", 1000.0), ("COVID-19 cases: 5", 5.0), ("none", None), ("1/0", None)])
def test_numbers_are_read_in_their_usual_forms(text, value):
    number = parse_number(text)
    assert (number.value if number else None) == (pytest.approx(value) if value is not None else None)


@pytest.mark.parametrize(("prediction", "gold", "right"), [
    ("1234.5", "1,234.5", True), ("about 42 apples", "42", True), ("$1,200", "1200", True), ("3/4", "0.75", True),
    ("12", "12%", True), ("0.12", "12%", True), ("12%", "12", True), ("12%", "0.12", True), ("13", "12%", False),
    ("0.333", "1/3", False), ("0.33333", "1/3", True), ("forty-two", "42", False), ("-3", "3", False)])
def test_numeric_within_tolerance(prediction, gold, right):
    assert scored("numeric", prediction, q(gold)).correct is right


def test_numeric_tolerances_and_a_gold_that_is_no_number():
    assert scored({"kind": "numeric", "abs_tol": 0.5}, "12.4", q("12")).em == 1.0
    assert scored({"kind": "numeric", "rel_tol": 0.1}, "108", q("100")).correct
    bad = scored("numeric", "12", q("twelve"))
    assert bad.em == 0.0 and bad.error == "gold answer 'twelve' is not a number"


def test_contains_whole_words_after_normalization():
    assert scored("contains", "I think it is Paris, France.", q("paris")).correct
    assert not scored("contains", "Parisian", q("Paris")).correct
    assert scored("contains", "It's “The Ogden’s”", q("Ogden's")).em == 1.0


def test_regex_searches_or_matches_in_full_with_the_gold_escaped():
    assert scored({"kind": "regex", "pattern": r"\b\d{4}\b"}, "in 1999, I think", q("x")).correct
    assert not scored({"kind": "regex", "pattern": r"\d{4}", "match": "full"}, "in 1999", q("x")).correct
    spec = {"kind": "regex", "pattern": "(?i)^about {gold}$"}
    assert scored(spec, "About 3.5", q("3.5")).correct and not scored(spec, "about 315", q("3.5")).correct


def test_choice_by_letter_or_by_an_options_column(tmp_path):
    assert scored("choice", "The answer is (B).", q("B")).correct
    assert not scored("choice", "B", q("C")).correct
    path = tmp_path / "mc.csv"
    path.write_text('question,answer,options\nCapital?,Paris,"[""Rome"", ""Paris""]"\nBig?,A,small|big\n')
    first, second = load_custom(path)
    spec = {"kind": "choice", "choices": "options"}
    assert scored(spec, "B", first).correct and scored(spec, "Paris", first).correct
    assert not scored(spec, "Rome", first).correct and scored(spec, "small", second).correct
    missing = scored({"kind": "choice", "choices": "opts"}, "A", first)
    assert missing.error == "question custom-0 has no column 'opts' of choices"


# ---------------------------------------------------------------- Python scorers


@pytest.fixture
def module(tmp_path):
    (tmp_path / "my_scorers.py").write_text(
        "from studio.scoring.kinds import parse_number\n\n"
        "def score(prediction, row):\n"
        "    number = parse_number(prediction)\n"
        "    right = number is not None and number.value == float(row['answer']) and row['unit'] in prediction\n"
        "    return 1.0 if right else 0.5 if number else 0.0\n\n"
        "def broken(prediction, row):\n"
        "    raise ValueError(f'cannot read\\n{prediction!r}')\n\n"
        "def chatty(prediction, row):\n"
        "    return 'yes'\n"
    )
    return {"units": {"module": "my_scorers.py"}, "broken": {"module": str(tmp_path / "my_scorers.py"),
            "function": "broken"}, "chatty": {"module": "my_scorers.py", "function": "chatty"}}


def test_a_python_scorer_uses_the_rows_extra_columns(module, units_csv, tmp_path):
    first, _ = load_custom(units_csv)
    spec = {"kind": "python", "name": "units"}
    assert scored(spec, "12 km", first, python_scorers=module, base_dir=tmp_path) == Score(1.0, 1.0, True)
    half = scored({**spec, "pass_score": 0.5}, "12 miles", first, python_scorers=module, base_dir=tmp_path)
    assert half.em == 0.5 and half.correct


def test_a_raising_scorer_scores_zero_with_a_one_line_error(module, units_csv, tmp_path):
    first, _ = load_custom(units_csv)
    result = scored({"kind": "python", "name": "broken"}, "12", first, python_scorers=module, base_dir=tmp_path)
    assert result == Score(0.0, 0.0, False, 0.0, "scorer broken raised ValueError: cannot read '12'")
    chatty = scored({"kind": "python", "name": "chatty"}, "12", first, python_scorers=module, base_dir=tmp_path)
    assert chatty.error == "scorer chatty returned 'yes', not a score from 0 to 1"


def test_a_python_scorer_that_cannot_be_loaded_fails_before_the_run(tmp_path):
    (tmp_path / "bad.py").write_text("import no_such_module_here\n")
    for declared, message in [({"m": {"module": "missing.py"}}, "module file .*missing.py not found"),
                              ({"m": {"module": "bad.py"}}, "cannot load bad.py \\(ModuleNotFoundError"),
                              ({"m": {"module": "json", "function": "nope"}}, "json has no function 'nope'")]:
        with pytest.raises(ScorerError, match=f"^scorer m: {message}"):
            scored({"kind": "python", "name": "m"}, "x", q("x"), python_scorers=declared, base_dir=tmp_path)


# ---------------------------------------------------------------- per source


def test_each_question_is_scored_by_its_sources_scorer(units_csv, module, tmp_path):
    recipe = parse_recipe(
        f"name: x\ntasks:\n  - task: custom\n    path: {units_csv}\n    scorer: {{kind: python, name: units}}\n"
        "evaluation:\n  sets:\n    - task: hotpotqa\n      split: eval250\n      scorer: contains\n",
        owner=owner_config(scorers=module))
    scorer = recipe_scorer(recipe, python_scorers=module, base_dir=tmp_path)
    custom = load_custom(str(units_csv))[0]
    hotpot = load_questions("hotpotqa", "eval250")[0]
    assert scorer(custom, "12 km").correct and not scorer(custom, "12").correct
    assert scorer(hotpot, f"surely {hotpot.answer}!").correct
    dev = load_questions("hotpotqa", "dev")[0]  # from no source of the recipe: exact
    assert not scorer(dev, f"surely {dev.answer}!").correct and scorer(dev, dev.answer).correct


def test_two_sources_of_the_same_questions_need_the_same_scorer():
    one = parse_recipe("name: x\ntasks:\n  - task: hotpotqa\nevaluation:\n  sets:\n    - task: hotpotqa\n"
                       "      scorer: contains\n")
    hotpot = load_questions("hotpotqa")[0]
    assert recipe_scorer(one)(hotpot, f"surely {hotpot.answer}!").correct  # the one named scores both
    recipe = parse_recipe("name: x\ntasks:\n  - task: hotpotqa\n    scorer: numeric\n"
                          "evaluation:\n  sets:\n    - task: hotpotqa\n      split: dev\n      scorer: contains\n")
    with pytest.raises(ScorerError, match=r"^tasks\[0\] and evaluation.sets\[0\] draw the same questions"):
        recipe_scorer(recipe)


# ---------------------------------------------------------------- the judge


@pytest.fixture
def judge_spec():
    def make(url: str, **fields: object) -> Scorer:
        return Scorer(kind="judge", model="grader", base_url=url, api_key_env=NO_KEY_ENV, price_input_per_m=1.0,
                      price_output_per_m=2.0, timeout_s=5.0, **fields)

    return make


@pytest.mark.parametrize(("reply", "value"), [
    ("0.8", 0.8), ("Score: 1", 1.0), ("80%", 0.8), ("4/5", 0.8), ("1.5", None), ("right", None), ("-1", None)])
def test_judge_replies_are_read_robustly(reply, value):
    assert judge_value(reply) == (pytest.approx(value) if value is not None else None)


def test_the_judge_grades_by_the_rubric_prices_it_and_caches_it(serve, judge_spec, store, monkeypatch):
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    server = serve(lambda call: Reply(text="0.7"))
    judge = Judge(judge_spec(server.url, rubric="Q: {question}\nGold: {gold}\nA: {prediction}\nScore?"), store)
    question = q("Paris", "Capital of France?")
    first = judge("It is Paris.", question)
    assert first == Score(0.7, 0.7, True, (7 * 1.0 + 3 * 2.0) / 1e6)
    [call] = server.calls
    assert call.path.endswith("/chat/completions") and call.payload["model"] == "grader"
    assert call.prompt == "Q: Capital of France?\nGold: Paris\nA: It is Paris.\nScore?"
    again = Judge(judge_spec(server.url, rubric="Q: {question}\nGold: {gold}\nA: {prediction}\nScore?"), store)
    assert again("It is Paris.", question) == Score(0.7, 0.7, True, 0.0)  # cached: no request, no cost
    assert len(server.calls) == 1
    assert judge("It is Lyon.", question).cost > 0 and len(server.calls) == 2
    judge.close()
    again.close()


def test_a_garbage_reply_is_an_error_that_still_costs(serve, judge_spec, store, monkeypatch):
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    server = serve(lambda call: Reply(text="The answer looks right to me."))
    judge = Judge(judge_spec(server.url, pass_score=0.9), store)
    result = judge("Paris", q("Paris"))
    assert result.em == 0.0 and not result.correct and result.cost > 0
    assert result.error == "judge grader replied 'The answer looks right to me.', not a score from 0 to 1"
    judge("Paris", q("Paris"))
    assert len(server.calls) == 2  # a failed grade is not cached
    judge.close()


def test_a_judge_needs_its_key_for_a_remote_server(judge_spec, monkeypatch):
    monkeypatch.delenv(NO_KEY_ENV, raising=False)
    remote = Endpoint("remote", ("https://judge.example.invalid/v1",), NO_KEY_ENV)
    recipe = parse_recipe("name: x\ntasks:\n  - task: hotpotqa\n    scorer: {kind: judge, endpoint: remote}\n",
                          owner=owner_config(endpoints={"remote": remote}))
    with pytest.raises(ScorerError, match=rf"^tasks\[0\].scorer: The scorer's API key variable {NO_KEY_ENV} is not"):
        recipe_scorer(recipe)


def test_the_stages_draw_templated_questions(units_csv):
    from studio.stages.generate import evaluation_questions, generation_questions

    source = f"- task: custom\n    path: {units_csv}\n    n: 1\n    template: '{{question}} ({{unit}})'\n"
    recipe = parse_recipe(f"name: x\ntasks:\n  {source}evaluation:\n  sets:\n  {source}")
    assert [q.question for q in evaluation_questions(recipe)] == ["How far is it? (km)"]
    assert [q.question for q in generation_questions(recipe)] == ["How heavy? (kg)"]  # evaluation's left out
