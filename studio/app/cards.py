"""An episode as a timeline of cards: the agent, then Thought / Action / Observation per step, then its answer
against gold; a `tools`-format episode is marked as such and carries its raw chat, folded, under the cards. The
cards themselves (`studio.results.episode_cards`) escape every piece of model or user text, and so does this
module, so nothing an agent writes becomes markup. The playground shows episodes as they run; the Trajectories
tab shows stored ones the same way."""

from __future__ import annotations

import html
from typing import Any

from studio.results.episode_cards import format_marker, raw_chat, step_cards
from studio.stages.playground import Lane
from studio.tasks import Question
from studio.tools.tool import stored_specs, text_params
from studio.trajectories.episode import Step
from studio.trajectories.schemas import string_params

NOT_SCORED = "not scored (no gold answer)"


def stored_lane(ep: dict[str, Any], tools: list[dict[str, Any]] | None = None) -> Lane:
    """A stored episode (a trajectories row) as the playground's Lane; `tools`: its run's stored tool listing (the
    tools the episode was offered where the run stored none)."""
    steps = [Step(**s) for s in ep.get("steps") or []]
    params = string_params(ep.get("offered_tools"))
    params |= text_params(stored_specs(tools)) if tools else {}
    return Lane(agent=ep["agent"], status="failed" if ep.get("error") else "done", steps=steps,
                prediction=ep.get("prediction"), correct=ep.get("correct"), em=ep.get("em"), error=ep.get("error"),
                model=" · served by ".join(filter(None, [ep.get("model"), ep.get("served_by")])),
                seconds=ep.get("latency_s") or 0.0, text_params=params, format=ep.get("format") or "react",
                messages=ep.get("messages"), offered_tools=ep.get("offered_tools"))


def stored_question(ep: dict[str, Any]) -> Question:
    return Question(ep["question_id"], ep["task"], ep.get("split"), ep["question"], ep.get("gold") or "")


def lane_html(lane: Lane | None, question: Question | None) -> str:
    """One agent's episode as cards: thought, action, observation per step, then the answer against gold, and
    for a `tools`-format episode its raw chat."""
    if lane is None:
        return ""
    e = html.escape
    unscored = lane.correct is None and not (question is not None and question.answer)
    state = {"starting": "loading the model…", "running": "thinking…", "done": "done", "failed": "failed"}
    head = (f"<div class='lane-head'><b>{e(lane.agent)}</b>{format_marker(lane.format)} "
            f"<span class='hint'>{e(lane.model or '')} · {state.get(lane.status, e(lane.status))} · "
            f"{lane.seconds:.1f} s</span></div>")
    cards = step_cards(lane.steps, lane.text_params, unscored, tools=lane.format == "tools")
    tail = ""
    if lane.error:
        tail = f"<div class='lane-error'>⚠ {e(lane.error)}</div>"
    elif lane.prediction is not None:
        verdict = ""
        if question is not None and question.answer:
            mark = "✓ right" if lane.correct else "✗ wrong"
            verdict = f" <span class='verdict'>{mark} (gold: {e(question.answer)})</span>"
        elif unscored:
            verdict = f" <span class='verdict'>{NOT_SCORED}</span>"
        tail = f"<div class='lane-answer'><b>Answer</b> {e(lane.prediction)}{verdict}</div>"
    chat = raw_chat(lane.messages, lane.offered_tools)
    return f"<div class='lane' id='lane-{e(lane.agent)}'>{head}{cards}{tail}{chat}</div>"
