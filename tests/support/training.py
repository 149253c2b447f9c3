"""A recorded ReAct trajectory and its question, and the text an example trains on: what the training tests
(plain and through the chat template) mask and read back."""

from __future__ import annotations

from studio.train.masking import IGNORE, Example

TRAJECTORY = ("Thought: I need to search Scott Derrickson.\nAction: search[Scott Derrickson]\n"
              "Observation: Scott Derrickson is an American director.\nThought: Ed Wood is American too.\n"
              "Action: finish[yes]\nObservation: Episode finished, reward = True\n")
QUESTION = "Were Scott Derrickson and Ed Wood of the same nationality?"


def trained_text(tokenizer, example: Example) -> str:
    """The text of the tokens an example trains on (its labels not ignored)."""
    return tokenizer.decode([t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE])
