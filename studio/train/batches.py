"""Batches of tokenised examples: padded, or packed padding-free into one row per batch.

Packed rows restart `position_ids` at every example, which transformers turns into a block-diagonal
attention mask, so examples never see each other. Every example's first label is ignored, so no loss
crosses from one example into the next.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from studio.train.masking import IGNORE, Example


@dataclass
class Batch:
    input_ids: object  # torch.LongTensor [rows, length]
    labels: object  # torch.LongTensor, aligned with input_ids (the loss shifts them)
    attention_mask: object | None
    position_ids: object | None
    tokens: int  # real (non-pad) tokens
    loss_tokens: int  # tokens that carry the loss


def batch_order(n_examples: int, batch_size: int, epochs: int, seed: int) -> list[list[int]]:
    """Example indices of every batch of every epoch, reshuffled each epoch; fixed by the seed so a
    resumed run continues with exactly the batches it would have seen."""
    order: list[list[int]] = []
    for epoch in range(epochs):
        idx = list(range(n_examples))
        random.Random(seed * 1000 + epoch).shuffle(idx)
        order += [idx[i:i + batch_size] for i in range(0, n_examples, batch_size)]
    return order


def collate(examples: list[Example], pad_id: int, packing: bool, device: str = "cpu") -> Batch:
    import torch

    labels_of = [[IGNORE, *e.labels[1:]] for e in examples]
    tokens = sum(len(e.input_ids) for e in examples)
    loss_tokens = sum(sum(label != IGNORE for label in labels[1:]) for labels in labels_of)
    if packing:
        ids = [t for e in examples for t in e.input_ids]
        labels = [t for lab in labels_of for t in lab]
        positions = [p for e in examples for p in range(len(e.input_ids))]
        as_row = lambda xs: torch.tensor([xs], dtype=torch.long, device=device)  # noqa: E731
        return Batch(as_row(ids), as_row(labels), None, as_row(positions), tokens, loss_tokens)
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (e, lab) in enumerate(zip(examples, labels_of, strict=True)):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, : len(lab)] = torch.tensor(lab)
        mask[row, : len(e.input_ids)] = 1
    return Batch(ids.to(device), labels.to(device), mask.to(device), None, tokens, loss_tokens)


def batches(examples: list[Example], order: list[list[int]], pad_id: int, packing: bool,
            device: str = "cpu") -> Iterator[Batch]:
    for indices in order:
        yield collate([examples[i] for i in indices], pad_id, packing, device)
