"""Scoring: HotpotQA/SQuAD exact match and F1, StrategyQA yes/no, MMLU letters."""

import pytest

from studio.scoring.exact import Score, extract_choice, normalize_answer, score, to_yes_no


def test_em_ignores_articles_and_punctuation():
    s = score("hotpotqa", "The Beatles!", "beatles")
    assert s == Score(em=1.0, f1=1.0, correct=True)
    assert normalize_answer("  An  apple, a day. ") == "apple day"


def test_articles_are_removed_only_as_whole_words():
    assert normalize_answer("Theatre Anathema") == "theatre anathema"
    assert score("hotpotqa", "Theatre", "the atre").em == 0.0


def test_em_is_case_insensitive_and_collapses_whitespace():
    assert score("bamboogle", "JAMES   Madison", "james madison").correct
    assert score("custom", "james\nmadison", "James Madison").em == 1.0


def test_unicode_punctuation_and_forms_are_normalised():
    # curly apostrophe vs straight, en dash vs hyphen, composed vs decomposed accent
    assert score("hotpotqa", "Ogden\u2019s Nut Gone Flake", "Ogden's Nut Gone Flake").correct
    assert score("hotpotqa", "1998\u20131999", "1998-1999").correct
    assert score("hotpotqa", "Beyonce\u0301", "Beyonc\u00e9").correct
    assert score("hotpotqa", "ÉCOLE normale", "école Normale").correct


def test_accents_still_matter():
    assert score("hotpotqa", "Beyonce", "Beyoncé").em == 0.0


def test_numbers_compare_as_written_after_punctuation_removal():
    assert score("hotpotqa", "1,000", "1000").correct
    assert score("hotpotqa", "1998", "1999") == Score(0.0, 0.0, False)
    assert score("hotpotqa", "$3.5 million", "3.5 million").correct


def test_token_f1_gives_partial_credit():
    s = score("hotpotqa", "President Richard Nixon", "Richard Nixon")
    assert s.em == 0.0
    assert not s.correct
    assert s.f1 == pytest.approx(0.8)  # precision 2/3, recall 1


def test_f1_counts_repeated_tokens_once_per_match():
    # pred tokens: new new york, gold: new york -> common 2, p=2/3, r=1
    assert score("hotpotqa", "new new york", "New York").f1 == pytest.approx(0.8)


def test_f1_is_zero_when_yes_no_answers_differ():
    # the official HotpotQA rule: no partial credit around yes/no/noanswer
    assert score("hotpotqa", "yes", "no").f1 == 0.0
    assert score("hotpotqa", "no", "no way").f1 == 0.0
    assert score("hotpotqa", "yes", "yes sir").f1 == 0.0
    assert score("hotpotqa", "noanswer", "no answer").f1 == 0.0
    assert score("hotpotqa", "Yes.", "yes") == Score(1.0, 1.0, True)


def test_empty_prediction_scores_zero():
    assert score("hotpotqa", "", "Paris") == Score(0.0, 0.0, False)
    assert score("hotpotqa", "the", "Paris") == Score(0.0, 0.0, False)


def test_missing_prediction_scores_zero_for_every_task():
    for task, gold in [
        ("hotpotqa", "Paris"),
        ("bamboogle", "x"),
        ("custom", "x"),
        ("strategyqa", "yes"),
        ("mmlu", "B"),
    ]:
        assert score(task, None, gold) == Score(0.0, 0.0, False)


@pytest.mark.parametrize("prediction", ["yes", "Yes.", "YES", "true", "True", " yes! ", "(yes)"])
def test_strategyqa_accepts_yes_variants(prediction):
    assert score("strategyqa", prediction, "yes") == Score(1.0, 1.0, True)
    assert score("strategyqa", prediction, "no") == Score(0.0, 0.0, False)


@pytest.mark.parametrize("prediction", ["no", "No.", "NO", "false", "False", "no!"])
def test_strategyqa_accepts_no_variants(prediction):
    assert score("strategyqa", prediction, "no").correct
    assert not score("strategyqa", prediction, "yes").correct


@pytest.mark.parametrize("prediction", ["maybe", "", "yes and no", "The answer is yes", "nope", "y"])
def test_strategyqa_anything_else_is_wrong(prediction):
    assert score("strategyqa", prediction, "yes") == Score(0.0, 0.0, False)
    assert score("strategyqa", prediction, "no") == Score(0.0, 0.0, False)


def test_yes_no_mapping():
    assert to_yes_no("TRUE.") == "yes"
    assert to_yes_no("False") == "no"
    assert to_yes_no("unknown") is None
    assert to_yes_no(None) is None


@pytest.mark.parametrize(
    ("prediction", "letter"),
    [
        ("B", "B"),
        ("b", "B"),
        ("B.", "B"),
        ("(B)", "B"),
        ("[B]", "B"),
        ("B)", "B"),
        ("B. Paris", "B"),
        ("(B) Paris", "B"),
        ("the answer is B", "B"),
        ("The answer is (C)", "C"),
        ("Answer: D", "D"),
        ("So the answer is A.", "A"),
        ("A is wrong, B is wrong, so the answer is C.", "C"),
    ],
)
def test_mmlu_extracts_the_choice_letter(prediction, letter):
    assert extract_choice(prediction) == letter
    assert score("mmlu", prediction, letter) == Score(1.0, 1.0, True)


@pytest.mark.parametrize("prediction", ["Paris", "A cat", "the answer is a dog", "E", "", "ABCD", "Bees"])
def test_mmlu_without_a_clear_letter_is_wrong(prediction):
    assert extract_choice(prediction) is None
    for letter in "ABCD":
        assert not score("mmlu", prediction, letter).correct


def test_mmlu_wrong_letter_scores_zero():
    assert score("mmlu", "The answer is (C)", "B") == Score(0.0, 0.0, False)
    assert score("mmlu", "c", " C ").correct


def test_unknown_task_is_an_error():
    with pytest.raises(ValueError, match="unknown task"):
        score("trivia", "x", "x")
