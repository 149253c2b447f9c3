"""Which tokens of a training example carry the loss.

By default only the agent's own words do: its thoughts, its actions and the final answer, plus the
`Observation:` marker that hands control back to the tool (so the fine-tuned agent learns to stop
there). The question and the tool's observations are context, not targets. `loss_on: all` trains on
every token, as the paper's code did.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.trajectories.episode import MARKER, question_block

IGNORE = -100


def training_text(question: str, trajectory: str) -> str:
    """One example as the student sees it: the zero-shot prompt followed by the trajectory."""
    return question_block(question) + trajectory


def agent_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of `text` written by the agent (Thought and Action lines, Observation markers)."""
    spans = []
    matches = list(MARKER.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        if m.group(1) == "Observation":
            spans.append((m.start(), m.start() + len(m.group(0).rstrip())))
        else:
            spans.append((m.start(), end))
    return spans


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


def tokenize_example(tokenizer, question: str, trajectory: str, max_len: int, loss_on: str = "agent") -> Example:
    """Token ids and labels (IGNORE where no loss is taken), aligned with the ids and cut at `max_len`."""
    text = training_text(question, trajectory)
    start = len(question_block(question))
    spans = [(max(a, start), b) for a, b in agent_spans(text) if b > start]
    return label_tokens(tokenizer, text, spans, max_len, loss_on)


def label_tokens(tokenizer, text: str, spans: list[tuple[int, int]], max_len: int, loss_on: str,
                 special_tokens: bool = True) -> Example:
    """`text` tokenised, each token labelled with itself when it starts inside one of `spans` (every token with
    `loss_on: all`). `special_tokens` False: the text already carries them (a chat template's rendering)."""
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=special_tokens)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    if loss_on == "all":
        labels = list(ids)
    else:
        labels = [token if e > s and any(a <= s < b for a, b in spans) else IGNORE
                  for token, (s, e) in zip(ids, offsets, strict=True)]
    return Example(ids[:max_len], labels[:max_len], len(ids) > max_len)


def preview(tokenizer, example: Example) -> str:
    """The example's text with trained spans in [[...]], so a user can see what the model learns."""
    out, trained = [], False
    for token, label in zip(example.input_ids, example.labels, strict=True):
        if (label != IGNORE) != trained:
            out.append("[[" if not trained else "]]")
            trained = not trained
        out.append(tokenizer.decode([token]))
    if trained:
        out.append("]]")
    return "".join(out)
