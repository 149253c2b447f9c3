"""An episode as a timeline of cards: the agent, then Thought / Action / Observation per step, then its answer
against gold. Every piece of model or user text is HTML-escaped, so nothing an agent writes becomes markup.
The playground shows episodes as they run; the Trajectories tab shows stored ones the same way."""

from __future__ import annotations

import html
from typing import Any

from studio.stages.playground import Lane
from studio.tasks import Question
from studio.trajectories.episode import Step

NOT_SCORED = "not scored (no gold answer)"


def stored_lane(ep: dict[str, Any]) -> Lane:
    """A stored episode (a trajectories row) as the playground's Lane."""
    steps = [Step(**s) for s in ep.get("steps") or []]
    return Lane(agent=ep["agent"], status="failed" if ep.get("error") else "done", steps=steps,
                prediction=ep.get("prediction"), correct=ep.get("correct"), em=ep.get("em"), error=ep.get("error"),
                model=" · served by ".join(filter(None, [ep.get("model"), ep.get("served_by")])),
                seconds=ep.get("latency_s") or 0.0)


def stored_question(ep: dict[str, Any]) -> Question:
    return Question(ep["question_id"], ep["task"], ep.get("split"), ep["question"], ep.get("gold") or "")


def lane_html(lane: Lane | None, question: Question | None) -> str:
    """One agent's episode as cards: thought, action, observation per step, then the answer against gold."""
    if lane is None:
        return ""
    e = html.escape
    unscored = lane.correct is None and not (question is not None and question.answer)
    state = {"starting": "loading the model…", "running": "thinking…", "done": "done", "failed": "failed"}
    head = (f"<div class='lane-head'><b>{e(lane.agent)}</b> <span class='hint'>{e(lane.model or '')} · "
            f"{state.get(lane.status, e(lane.status))} · {lane.seconds:.1f} s</span></div>")
    cards = []
    for i, step in enumerate(lane.steps, 1):
        action = step.argument if step.action == "invalid" else f"{step.action}[{step.argument}]"
        said = step.observation
        if unscored and step.action == "finish" and said:  # the loop's "reward = False" scored nothing
            said = "Episode finished"
        observation = f"<div class='obs'><b>Observation</b> {e(said)}</div>" if said else ""
        thought = f"<div><b>Thought {i}</b> {e(step.thought)}</div>" if step.thought else ""
        cards.append(f"<div class='step-card'>{thought}<div><b>Action</b> <code>{e(action)}</code></div>"
                     f"{observation}</div>")
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
    return f"<div class='lane' id='lane-{e(lane.agent)}'>{head}{''.join(cards)}{tail}</div>"
