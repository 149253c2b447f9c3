"""What became of an episode, for failure analysis: the outcomes in order and the one rule that picks an episode's.

A base module (it imports nothing of the studio's) so the trajectories' Episode states its outcome as it is
stored and the store's data migration states it for episodes stored before outcomes existed, by the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class StepLike(Protocol):
    """What the rule reads of a step (`studio.trajectories.episode.Step` has it)."""

    action: str
    argument: str
    status: str


# The first that applies, in this order.
OUTCOMES = (
    "tool error",                 # a tool failed: the search backend (ending the episode) or a call's result
    "model error",                # the model's endpoint or engine failed (after its retries)
    "right",                      # correct by the task's scoring
    "not scored",                 # no gold answer to score against
    "invalid action",             # wrote an action that names no tool (nor finish) at least once
    "invalid call",               # called a tool with arguments that do not fit its schema
    "repeated the same call",     # called a tool with the same argument twice
    "step limit reached",         # made to answer when its steps ran out
    "answered without a tool call",
    "wrong answer after tool calls",
)
# Names of the last three before the tools were more than search (a store migration renames stored ones).
RENAMED = {"repeated the same search": "repeated the same call",
           "answered without searching": "answered without a tool call",
           "wrong answer after searching": "wrong answer after tool calls"}


def outcome(steps: Sequence[StepLike], finished: bool, correct: bool | None, invalid_actions: int,
            error: str | None) -> str:
    """The episode's place in OUTCOMES, from what is stored of it."""
    if error:
        if error.startswith("scorer failed"):
            return "not scored"
        return "tool error" if error.startswith(("search failed", "tool failed")) else "model error"
    if correct:
        return "right"
    if correct is None:
        return "not scored"
    if invalid_actions:
        return "invalid action"
    if any(s.status == "invalid call" for s in steps):
        return "invalid call"
    if any(s.status == "tool error" for s in steps):
        return "tool error"
    calls = [(s.action, " ".join(s.argument.lower().split()))
             for s in steps if s.action not in ("", "finish", "invalid")]
    if len(calls) != len(set(calls)):
        return "repeated the same call"
    if not finished:
        return "step limit reached"
    return "wrong answer after tool calls" if calls else "answered without a tool call"
