"""An episode's steps as HTML cards, and the chat behind a `tools`-format episode: shared by the studio's views
(`studio.app.cards`) and the dashboards' share pages, which must show an episode the same way without the studio.
Every piece of model or user text is HTML-escaped, so nothing an agent writes becomes markup.

A tool call (search, an MCP server's tool, a native function call) is a tool card: the tool's name, its arguments as
formatted JSON where they can be read as JSON (a one-string call as `{"param": text}` when the tool's parameter is
known), the observation it gave, and a badge when the call was invalid or the tool reported an error. A `tools`-format
episode ends with a plain assistant message, not a call: its last card shows that answer as the agent wrote it, not
the `finish[...]` step and reward observation the loop records for it (the score is the lane's verdict). It also
carries its raw conversation and the tools it was offered, shown folded as JSON under the cards, so a reader sees
exactly what the model saw and wrote."""

from __future__ import annotations

import html
import json
from typing import Any

from studio.trajectories.episode import Step

NOT_TOOLS = ("finish", "invalid", "")  # step actions that are not tool calls
BADGES = {"invalid call": "tool-badge-invalid", "tool error": "tool-badge-error"}
UNREADABLE = "a call that could not be read"

# The cards' look, with fallbacks for the share page, which has none of Gradio's theme variables.
CARDS_CSS = """
.step-card {border-left: 3px solid #f97316; padding: 0.2rem 0.6rem; margin: 0.4rem 0; font-size: 0.9rem}
.step-card .obs {color: var(--body-text-color-subdued, #4b5563)}
.tool-card {border-left-color: #0ea5e9}
.tool-card.tool-failed {border-left-color: #dc2626}
.tool-card .tool-args, .raw-chat pre {margin: 0.2rem 0; padding: 0.3rem 0.5rem; border-radius: 4px;
  font-size: 0.8rem; background: var(--background-fill-secondary, #f6f6f6); white-space: pre-wrap;
  overflow-wrap: anywhere}
.tool-badge, .format-marker {display: inline-block; margin-left: 0.4rem; padding: 0 0.45rem; border-radius: 999px;
  font-size: 0.72rem; font-weight: 600; vertical-align: middle}
.tool-badge-invalid {color: #92400e; background: #fffbeb; border: 1px solid #d97706}
.tool-badge-error {color: #991b1b; background: #fef2f2; border: 1px solid #dc2626}
.format-marker {color: #075985; background: #f0f9ff; border: 1px solid #0ea5e9}
.raw-chat {margin-top: 0.4rem; font-size: 0.85rem}
.raw-chat summary {cursor: pointer; color: var(--body-text-color-subdued, #4b5563)}
.raw-chat pre {max-height: 28rem; overflow-y: auto}
"""


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
    arguments and its observation. A call that could not be read at all (action `invalid`) shows what was
    written of it, and its badge."""
    e = html.escape
    thought = f"<div><b>Thought {number}</b> {e(step.thought)}</div>" if step.thought else ""
    badge = ""
    if step.status:
        badge = f" <span class='tool-badge {BADGES.get(step.status, 'tool-badge-error')}'>{e(step.status)}</span>"
    args = call_arguments(step, params)
    if step.action == "invalid":
        written = f"<code>{e(step.argument)}</code>" if step.argument else f"<i>{UNREADABLE}</i>"
        call = f"<div class='tool-head'><b>Action</b> {written}{badge}</div>"
    elif args is None:
        call = f"<div class='tool-head'><b>Action</b> <code>{e(step.action)}[{e(step.argument)}]</code>{badge}</div>"
    else:
        call = (f"<div class='tool-head'><b>Action</b> <code class='tool-name'>{e(step.action)}</code>{badge}</div>"
                f"<pre class='tool-args'>{e(args)}</pre>")
    observation = f"<div class='obs'><b>Observation</b> {e(step.observation)}</div>" if step.observation else ""
    failed = " tool-failed" if step.status else ""
    return f"<div class='step-card tool-card{failed}'>{thought}{call}{observation}</div>"


def answer_card(number: int, step: Step) -> str:
    """A `tools`-format episode's final assistant message: its thought and the answer it gave, nothing it never saw."""
    e = html.escape
    thought = f"<div><b>Thought {number}</b> {e(step.thought)}</div>" if step.thought else ""
    return f"<div class='step-card answer-card'>{thought}<div><b>Answered</b> {e(step.argument)}</div></div>"


def step_cards(steps: list[Step], params: dict[str, str], unscored: bool = False, tools: bool = False) -> str:
    """Every step as a card: tool calls (and invalid calls) as tool cards, a `tools`-format episode's answer
    (`tools`) as its answer card, the rest as Thought / Action / Observation. `unscored`: the episode had no gold
    answer, so its finish says so rather than "reward = False"."""
    e = html.escape
    cards = []
    for i, step in enumerate(steps, 1):
        if step.action not in NOT_TOOLS or step.status:
            cards.append(tool_card(i, step, params))
            continue
        if tools and step.action == "finish":
            cards.append(answer_card(i, step))
            continue
        action = step.argument if step.action == "invalid" else f"{step.action}[{step.argument}]"
        said = step.observation
        if unscored and step.action == "finish" and said:  # the loop's "reward = False" scored nothing
            said = "Episode finished"
        observation = f"<div class='obs'><b>Observation</b> {e(said)}</div>" if said else ""
        thought = f"<div><b>Thought {i}</b> {e(step.thought)}</div>" if step.thought else ""
        cards.append(f"<div class='step-card'>{thought}<div><b>Action</b> <code>{e(action)}</code></div>"
                     f"{observation}</div>")
    return "".join(cards)


def format_marker(episode_format: str | None) -> str:
    """A small `format: tools` badge for an episode in the native tool-calling format ("" for ReAct text)."""
    return "<span class='format-marker'>format: tools</span>" if episode_format == "tools" else ""


def _json_block(label: str, css: str, value: list[dict[str, Any]]) -> str:
    text = html.escape(json.dumps(value, indent=2, ensure_ascii=False))
    return f"<div><b>{label}</b></div><pre class='{css}'>{text}</pre>"


def raw_chat(messages: list[dict[str, Any]] | None, offered: list[dict[str, Any]] | None) -> str:
    """The conversation exactly as the model saw and wrote it, and the tools it was offered, as JSON, folded
    ("" without messages)."""
    if not messages:
        return ""
    tools = len(offered or [])
    summary = (f"raw chat: {len(messages)} message{'s' * (len(messages) != 1)}, "
               f"{tools} offered tool{'s' * (tools != 1)}")
    shown = _json_block("messages", "raw-messages", messages)
    if offered:
        shown += _json_block("offered tools", "raw-tools", offered)
    return f"<details class='raw-chat'><summary>{summary}</summary>{shown}</details>"
