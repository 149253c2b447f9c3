"""Few-shot and zero-shot prompts: what the prompted baseline and the fine-tuned agent are shown."""

import pytest

from studio.agents.prompts import few_shot_examples, method_instructions, prompt_prefix
from studio.recipe.schema import Recipe
from studio.stages.runner import agent_spec
from studio.tasks import find_gold
from studio.trajectories.episode import parse_steps

QUESTION = "Which city is the capital of the country where the Eiffel Tower stands?"


def test_zero_shot_is_the_training_format():
    assert prompt_prefix("hotpotqa", "react", QUESTION, k=0) == f"Question: {QUESTION}\n"


@pytest.mark.parametrize("task,method", [("hotpotqa", "react"), ("hotpotqa", "cot"), ("hotpotqa", "reflexion"),
                                         ("strategyqa", "react"), ("mmlu", "cot"), ("bamboogle", "react")])
def test_examples_are_recorded_successes_of_the_method_and_no_evaluation_question(task, method):
    examples = few_shot_examples(task, method, 3)
    assert len(examples) == 3 and len({q for q, _ in examples}) == 3
    for question, trajectory in examples:
        assert find_gold(question) is None
        steps = parse_steps(trajectory)
        assert steps[-1].action == "finish" and "reward" not in trajectory
        assert any(s.action == "search" for s in steps) == (method != "cot")
    assert few_shot_examples(task, method, 3, seed=1) != examples  # the seed draws other examples


def test_examples_alone_when_instructions_are_off():
    prompt = prompt_prefix("hotpotqa", "react", QUESTION, k=3, instructions=False)
    examples = few_shot_examples("hotpotqa", "react", 3)
    assert prompt.startswith(f"Question: {examples[0][0]}\nThought:")
    assert prompt.count("Question: ") == 4 and prompt.endswith(f"\n\nQuestion: {QUESTION}\n")
    assert "Solve a question" not in prompt and "EXAMPLES" not in prompt


def test_instructions_open_the_prompt_when_asked():
    prompt = prompt_prefix("strategyqa", "react", QUESTION, k=2, instructions=True)
    assert prompt.startswith(method_instructions("react") + "The answer is yes or no.\nHere are some examples.\n")
    assert prompt.endswith(f"(END OF EXAMPLES)\nQuestion: {QUESTION}\n") and prompt.count("Question: ") == 3


def test_io_examples_show_only_the_answer():
    prompt = prompt_prefix("hotpotqa", "io", QUESTION, k=2, instructions=False)
    assert "Thought:" not in prompt and "search[" not in prompt and prompt.count("Action: finish[") == 2


def test_evaluation_prompts_each_agent_from_its_own_settings():
    recipe = Recipe.model_validate({"name": "r", "teacher": {"few_shot_k": 2},
                                    "evaluation": {"few_shot_k": 4, "few_shot_seed": 7, "max_steps": 5}})
    prompted, finetuned, teacher = (agent_spec(recipe, a, "react") for a in ("prompted", "finetuned", "teacher"))
    assert (prompted.k, prompted.instructions, prompted.seed, prompted.max_steps) == (4, False, 7, 5)
    assert finetuned.k == 0 and finetuned.max_steps == 5
    assert (teacher.k, teacher.instructions) == (2, True)
    recipe.evaluation.instructions = True
    assert agent_spec(recipe, "prompted", "cot").instructions and agent_spec(recipe, "prompted", "cot").method == "cot"
