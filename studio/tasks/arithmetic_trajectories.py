"""Recorded ReAct trajectories for the arithmetic task, written by a program that knows each question's
expression, not by a teacher model: few-shot examples and training data by import, free and exact.

Every observation is the real calculator's output for the action's expression, so the trajectories
show the agent exactly what the tool will answer. Thoughts vary a little from question to question,
and a problem with several operations is sometimes solved with one calculator call per part.
"""

from __future__ import annotations

import random

from studio.tasks.arithmetic_calculator import calculate
from studio.tasks.arithmetic_problems import Problem, solve_in_steps

OPENINGS = ("I need {need}.", "To answer this I have to work out {need}.", "Let me calculate {need}.",
            "The question asks for {need}.")
CLOSINGS = ("So {what} is {answer}.", "{What} is {answer}.", "The calculator gives {answer}, so {what} is {answer}.")
IN_STEPS = 0.5  # share of multi-step problems solved one part per calculator call


def trajectory(problem: Problem, rng: random.Random) -> str:
    """Thought / Action / Observation lines, ending with finish[answer] and the reward line."""
    opening = rng.choice(OPENINGS).format(need=problem.need)
    if problem.steps and rng.random() < IN_STEPS:
        calls = solve_in_steps(problem)
        thoughts = [f"{opening} {problem.steps[0].thought}", *(s.thought for s in problem.steps[1:])]
    else:
        calls = [(problem.expression, calculate(problem.expression))]
        thoughts = [opening]
    lines = []
    for thought, (expression, result) in zip(thoughts, calls, strict=True):
        lines += [f"Thought: {thought}", f"Action: calculate[{expression}]", f"Observation: {result}"]
    answer = calls[-1][1]
    closing = rng.choice(CLOSINGS).format(what=problem.what, What=problem.what[:1].upper() + problem.what[1:],
                                          answer=answer)
    lines += [f"Thought: {closing}", f"Action: finish[{answer}]", "Observation: Episode finished, reward = True"]
    return "\n".join(lines) + "\n"


def alpaca_records(problems: list[Problem], seed: int) -> list[dict[str, str]]:
    """One Alpaca record per problem, as in FireAct's alpaca_format files: question, empty input, trajectory."""
    rng = random.Random(f"arithmetic-trajectories-{seed}")
    return [{"instruction": p.question, "input": "", "output": trajectory(p, rng)} for p in problems]
