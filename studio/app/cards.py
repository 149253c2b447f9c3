"""An episode as a timeline of cards: the agent, then Thought / Action / Observation per step, then its answer
against gold. Every piece of model or user text is HTML-escaped, so nothing an agent writes becomes markup.
The playground shows episodes as they run; the Trajectories tab shows stored ones the same way.

A tool call (search or an MCP server's tool) is a tool card: the tool's name, its arguments as formatted JSON
where they can be read as JSON (a one-string call as `{"param": text}` when the tool's parameter is known), the
observation it gave, and a badge when the call was invalid or the tool reported an error."""

from __future__ import annotations

import html
import json
from typing import Any

from studio.stages.playground import Lane
from studio.tasks import Question
from studio.tools.toolbox import ToolSpec, text_params
from studio.trajectories.episode import Step

NOT_SCORED = "not scored (no gold answer)"
NOT_TOOLS = ("finish", "invalid", "")  # step actions that are not tool calls
BADGES = {"invalid call": "tool-badge-invalid", "tool error": "tool-badge-error"}


def stored_lane(ep: dict[str, Any], tools: list[dict[str, Any]] | None = None) -> Lane:
    """A stored episode (a trajectories row) as the playground's Lane; `tools`: its run's stored tool listing."""
    steps = [Step(**s) for s in ep.get("steps") or []]
    return Lane(agent=ep["agent"], status="failed" if ep.get("error") else "done", steps=steps,
                prediction=ep.get("prediction"), correct=ep.get("correct"), em=ep.get("em"), error=ep.get("error"),
                model=" · served by ".join(filter(None, [ep.get("model"), ep.get("served_by")])),
                seconds=ep.get("latency_s") or 0.0,
                text_params=text_params([ToolSpec(t.get("name", ""), "", t.get("input_schema") or {})
                                         for t in tools or []]))


def call_arguments(step: Step, params: dict[str, str]) -> str | None:
    """A tool call's arguments as indented JSON: the JSON object the agent wrote, or `{"param": text}` for a
    one-string call to a tool whose parameter is known; None when neither (the call is shown as written)."""
    text = step.argument.strip()
    if text.startswith("{"):
        try:
            args = json.loads(text)
        except json.JSONDecodeError:
            args = None
        if isinstance(args, dict):
            return json.dumps(args, indent=2, ensure_ascii=False)
    if step.action in params:
        return json.dumps({params[step.action]: text}, indent=2, ensure_ascii=False)
    return None


def tool_card(number: int, step: Step, params: dict[str, str]) -> str:
    """One tool call: the thought, the tool's name (with a badge for an invalid call or a tool error), its
    arguments and its observation."""
    e = html.escape
    thought = f"<div><b>Thought {number}</b> {e(step.thought)}</div>" if step.thought else ""
    badge = ""
    if step.status:
        badge = f" <span class='tool-badge {BADGES.get(step.status, 'tool-badge-error')}'>{e(step.status)}</span>"
    args = call_arguments(step, params)
    if args is None:
        call = f"<div class='tool-head'><b>Action</b> <code>{e(step.action)}[{e(step.argument)}]</code>{badge}</div>"
    else:
        call = (f"<div class='tool-head'><b>Action</b> <code class='tool-name'>{e(step.action)}</code>{badge}</div>"
                f"<pre class='tool-args'>{e(args)}</pre>")
    observation = f"<div class='obs'><b>Observation</b> {e(step.observation)}</div>" if step.observation else ""
    failed = " tool-failed" if step.status else ""
    return f"<div class='step-card tool-card{failed}'>{thought}{call}{observation}</div>"


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
        if step.action not in NOT_TOOLS:
            cards.append(tool_card(i, step, lane.text_params))
            continue
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
