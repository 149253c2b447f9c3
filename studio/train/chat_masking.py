"""Loss masks of examples rendered through the student's chat template.

The model learns what it writes at run time: each assistant turn (its content, its calls and the end-of-turn marker
that hands control back), never the system prompt, the user's question, the tool list or the tool results. The
turns are found without trusting a template's generation markers: the conversation up to a turn, rendered with the
generation prompt, must be where the whole rendering goes on with that turn, so its characters are known.
"""

from __future__ import annotations

from typing import Any

from studio.llm.chat_template import ChatTemplate, ChatTemplateError, question_turn
from studio.train.masking import Example, agent_spans, label_tokens


def assistant_spans(template: ChatTemplate, messages: list[dict[str, Any]],
                    tools: list[dict] | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of each assistant turn in it (up to its end-of-turn
    marker). Raises ChatTemplateError, naming the template, when a turn does not render as its prefix does."""
    text = template.render(messages, tools)
    spans = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        before = template.render(messages[:i], tools, add_generation_prompt=True)
        after = template.render(messages[: i + 1], tools)
        if not (text.startswith(after) and after.startswith(before) and len(after) > len(before)):
            raise ChatTemplateError(
                f"chat template {template.name or '(unnamed)'} renders message {i} (an assistant turn) differently "
                "once later messages follow, so the assistant turns cannot be told apart for the loss; name a "
                "template that renders every turn the same whatever follows in student.chat_template")
        end = after.rfind(template.end_of_turn, len(before))
        spans.append((len(before), end + len(template.end_of_turn) if end >= 0 else len(after)))
    return text, spans


def tokenize_chat(tokenizer, template: ChatTemplate, messages: list[dict[str, Any]], tools: list[dict] | None,
                  max_len: int, loss_on: str = "agent") -> Example:
    """A `tools`-format example: the conversation through the template, the loss on the assistant turns."""
    text, spans = assistant_spans(template, messages, tools)
    return label_tokens(tokenizer, text, spans, max_len, loss_on, special_tokens=False)


def tokenize_react_chat(tokenizer, template: ChatTemplate, question: str, trajectory: str, max_len: int,
                        loss_on: str = "agent") -> Example:
    """A `react` example under `prompt_format: chat`: the question a user turn, the trajectory the model's turn,
    masked inside as the plain text is (observations are context) and its end-of-turn marker trained."""
    text, [(start, end)] = assistant_spans(template, [question_turn(question),
                                                      {"role": "assistant", "content": trajectory}])
    turn = text[start:end]
    spans = [(start + a, start + b) for a, b in agent_spans(turn)]
    if turn.endswith(template.end_of_turn):
        spans.append((end - len(template.end_of_turn), end))
    return label_tokens(tokenizer, text, spans, max_len, loss_on, special_tokens=False)
