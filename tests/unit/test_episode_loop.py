"""The episode loop's control flow, driven by a scripted in-process model so every branch is exercised
(retry on a missing action, forced finish, reflection, tool and model failures). The real model runs
the same loop in tests/stages/test_local_react_episodes.py."""


import pytest

from studio.agents.loop import AgentSpec
from studio.agents.react_step import EpisodeRunner
from studio.llm.base import Completion
from studio.tasks import Question
from studio.tools.toolbox import search_toolbox
from studio.trajectories.episode import parse_steps
from tests.support.scripted_model import Scripted

Q = Question("hotpotqa-x-1", "hotpotqa", "dev", "Who is the kickboxer Badr Hari?", "Badr Hari")


def run(reply, spec: AgentSpec, questions=(Q,), search=lambda q: f"passage about {q}", in_flight=16):
    backend = Scripted(reply)
    done = []
    EpisodeRunner(backend, search_toolbox(search), spec, in_flight=in_flight).run(list(questions), done.append)
    return done, backend


def react_reply(prompt: str) -> str:
    if prompt.endswith("Thought:") and "Observation:" not in prompt.split("Question: Who is the kickboxer")[-1]:
        return " I need to search Badr Hari.\nAction: search[Badr Hari]\nObservation: made up"
    return " He is Badr Hari.\nAction: finish[Badr Hari]"


def test_react_episode_searches_then_finishes():
    (ep,), backend = run(react_reply, AgentSpec("react", "teacher", k=0))
    assert [s.action for s in ep.steps] == ["search", "finish"]
    assert ep.steps[0].observation == "passage about Badr Hari"  # the tool's text, not the model's
    assert ep.prediction == "Badr Hari" and ep.em == 1.0 and ep.correct and ep.finished
    assert ep.text.endswith("Action: finish[Badr Hari]\nObservation: Episode finished, reward = True\n")
    assert parse_steps(ep.text) == ep.steps and ep.tokens_out == 10
    assert backend.released == [ep.key]


def test_missing_action_is_retried_once_and_counted():
    calls = []

    def reply(prompt):
        calls.append(prompt)
        return " Badr Hari is a kickboxer." if prompt.endswith("Thought:") else " finish[Badr Hari]"

    (ep,), _ = run(reply, AgentSpec("react", "teacher"))
    assert ep.invalid_actions == 1 and ep.prediction == "Badr Hari" and ep.finished
    assert calls[1].endswith("Thought: Badr Hari is a kickboxer.\nAction:")


def test_step_limit_forces_a_finish():
    def reply(prompt):
        return "Badr Hari" if prompt.endswith("finish[") else " Search more.\nAction: search[kickboxers]"

    (ep,), _ = run(reply, AgentSpec("react", "prompted", max_steps=3))
    assert [s.action for s in ep.steps] == ["search"] * 3 + ["finish"]
    assert ep.prediction == "Badr Hari" and ep.correct and not ep.finished  # forced, not finished by itself


def test_reflexion_reflects_after_k_steps():
    prompts = []

    def reply(prompt):
        prompts.append(prompt)
        if "let me do a reflection" in prompt.rsplit("Question:", 1)[-1]:
            return " I should answer.\nAction: finish[Badr Hari]"
        return " Keep looking.\nAction: search[x]"

    (ep,), _ = run(reply, AgentSpec("reflexion", "teacher", reflect_after=2, max_steps=8))
    assert len(ep.steps) == 3 and ep.steps[2].thought.startswith("Now that I haven't solved the task within 2 steps")
    assert ep.steps[2].thought.endswith("I should answer.") and ep.finished


def test_cot_answers_in_one_thought_without_the_tool():
    searched = []

    def search(q):
        searched.append(q)
        return "x"

    (ep,), _ = run(lambda p: " He is famous. So the answer is Badr Hari.\nAction: finish[Badr Hari]",
                   AgentSpec("cot", "teacher"), search=search)
    assert len(ep.steps) == 1 and ep.correct and searched == []
    (ep,), _ = run(lambda p: "Badr Hari" if p.endswith("finish[") else " Look.\nAction: search[x]",
                   AgentSpec("cot", "teacher"), search=search)
    assert searched == [] and ep.invalid_actions == 2 and ep.prediction == "Badr Hari" and not ep.finished


def test_io_answers_directly():
    (ep,), _ = run(lambda p: "Badr Hari]\nmore", AgentSpec("io", "prompted", k=2))
    assert ep.prediction == "Badr Hari" and ep.finished and ep.text.startswith("Action: finish[Badr Hari]")


def test_failures_end_one_episode_and_the_rest_go_on():
    questions = [Question(f"q{i}", "hotpotqa", "dev", f"Question number {i}?", "yes") for i in range(3)]

    def reply(prompt):
        if "number 1?" in prompt:
            return Completion("", error="HTTP 500 after 5 retries")
        if "number 2?" in prompt:
            return " Look.\nAction: search[boom]"
        return " Yes.\nAction: finish[yes]"

    def search(q):
        raise RuntimeError("search backend down")

    done, _ = run(reply, AgentSpec("react", "teacher"), questions=questions, search=search)
    by_id = {e.question_id: e for e in done}
    assert by_id["q0"].correct and by_id["q0"].error is None
    assert by_id["q1"].error == "HTTP 500 after 5 retries" and by_id["q1"].prediction is None
    assert by_id["q2"].error == "search failed: search backend down"


@pytest.mark.parametrize("in_flight, sizes", [(16, [5, 5]), (2, [2, 2, 2, 2, 1, 1])])
def test_open_episodes_advance_together(in_flight, sizes):
    questions = [Question(f"q{i}", "hotpotqa", "dev", f"Who is the kickboxer Badr Hari {i}?", "Badr Hari")
                 for i in range(5)]
    done, backend = run(react_reply, AgentSpec("react", "teacher"), questions=questions, in_flight=in_flight)
    assert len(done) == 5 and all(e.correct for e in done)
    assert [len(b) for b in backend.batches] == sizes


@pytest.mark.parametrize("instructions", [True, False])
def test_prompted_agents_get_examples_with_or_without_instructions(instructions):
    prompts = []
    run(lambda p: prompts.append(p) or react_reply(p), AgentSpec("react", "prompted", k=2, instructions=instructions))
    assert prompts[0].startswith("Solve a question") == instructions
    assert prompts[0].count("Question: ") == 3 and prompts[0].endswith(f"Question: {Q.question}\nThought:")


def test_a_question_without_gold_is_not_scored_rather_than_failed():
    from studio.outcomes import outcome
    from studio.recipe.schema import Scorer
    from studio.scoring.scorer import make_scorer

    free = Question("playground-1", "arithmetic", None, "What is 6 times 7?", "")
    backend = Scripted(lambda prompt: " It is 42.\nAction: finish[42]")
    done = []
    numeric = make_scorer(Scorer(kind="numeric"), "arithmetic")
    EpisodeRunner(backend, search_toolbox(lambda q: ""), AgentSpec("react", "teacher", k=0),
                  scorer=numeric).run([free], done.append)
    (ep,) = done
    assert ep.prediction == "42" and ep.error is None
    assert ep.correct is None and ep.em is None
    assert ep.steps[-1].observation == "Episode finished"
    assert outcome(ep.steps, ep.finished, ep.correct, ep.invalid_actions, ep.error) == "not scored"
