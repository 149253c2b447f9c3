"""Training rows as the worker reads them, and each turned into a tokenised example in the recipe's format.

`react` with `prompt_format: plain` is the paper's text (`Question: ...` then the trajectory); `react` with `chat`
puts that text in the student's chat template; `tools` trains on chat messages with the tools offered: a
`tools`-format episode's own, or a ReAct episode's steps as calls to its run's tools.
"""

from __future__ import annotations

from typing import Any

from studio.llm.chat_template import ChatTemplate, tokenizer_template
from studio.recipe.schema import Recipe, Student
from studio.tools.tool import stored_specs, text_params
from studio.train.chat_masking import tokenize_chat, tokenize_react_chat
from studio.train.masking import Example, tokenize_example
from studio.trajectories.episode import Step
from studio.trajectories.messages import AGENT_SYSTEM, messages_from_steps


def example_row(row: dict[str, Any], format: str, listing: list[dict] | None) -> dict[str, Any]:
    """What the worker needs of a stored trajectory: its question and text, and in the `tools` format its chat
    messages and tool schemas. `listing`: the tool list of the run the row comes from (None: search alone)."""
    out = {"question": row["question"], "text": row["text"]}
    if format != "tools":
        return out
    if row.get("format") == "tools" and row.get("messages"):
        return out | {"messages": row["messages"], "tools": row.get("offered_tools") or []}
    specs = stored_specs(listing)
    steps = [Step(**step) for step in row.get("steps") or []]
    messages = messages_from_steps(row["question"], steps, text_params(specs), AGENT_SYSTEM)
    return out | {"messages": messages, "tools": [spec.function() for spec in specs]}


def training_template(tokenizer, recipe: Recipe) -> ChatTemplate | None:
    """The chat template the student trains through (saved with its adapter), or None for plain text."""
    if recipe.format == "tools":
        return tokenizer_template(tokenizer, recipe.student.chat_template)
    if recipe.student.prompt_format == "chat":
        return tokenizer_template(tokenizer, recipe.student.chat_template, tools=False)
    return None


def tokenize_row(tokenizer, template: ChatTemplate | None, row: dict[str, Any], student: Student) -> Example:
    """One worker row as a tokenised, masked example (`template` from `training_template`)."""
    if "messages" in row:
        return tokenize_chat(tokenizer, template, row["messages"], row["tools"], student.max_seq_length,
                             student.loss_on)
    if template is not None:
        return tokenize_react_chat(tokenizer, template, row["question"], row["text"], student.max_seq_length,
                                   student.loss_on)
    return tokenize_example(tokenizer, row["question"], row["text"], student.max_seq_length, student.loss_on)
