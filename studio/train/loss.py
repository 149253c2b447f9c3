"""The training loss, computed where it is taken.

Gemma 3's 262k-token vocabulary makes the output layer the main cost of a small model: logits for
every position of a padded batch are most of the compute and memory. `selective_loss` runs the
decoder, keeps the hidden states of the positions that carry a label, and applies the output layer
to those alone. `full_loss` is the plain way (every position's logits), kept as the baseline.

Every forward passes `use_cache=False`: with a cache, transformers does not look for packed sequences
in `position_ids`, and packed examples would attend to each other.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from studio.train.batches import Batch
from studio.train.masking import IGNORE


class Objective(torch.nn.Module):
    """The model and its loss as one module: a DDP wrapper arms its gradient averaging in `forward`, so the
    whole loss (which reaches into the model's parts, see `selective_loss`) must run inside one."""

    def __init__(self, model, loss_fn: Callable) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Batch):
        return self.loss_fn(self.model, batch)


def _causal_lm(model):
    """The transformers CausalLM inside a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def selective_loss(model, batch: Batch):
    import torch.nn.functional as F

    lm = _causal_lm(model)
    hidden = lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                      position_ids=batch.position_ids, use_cache=False).last_hidden_state
    targets = torch.cat([batch.labels[:, 1:], torch.full_like(batch.labels[:, :1], IGNORE)], dim=1)
    keep = targets != IGNORE
    logits = lm.lm_head(hidden[keep])
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return F.cross_entropy(logits.float(), targets[keep])


def full_loss(model, batch: Batch):
    import torch.nn.functional as F

    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                   position_ids=batch.position_ids, use_cache=False).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch.labels[:, 1:].flatten(), ignore_index=IGNORE)


def model_loss(model, batch: Batch):
    """The model's own loss from labels (Unsloth's fused cross-entropy on CUDA)."""
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                 position_ids=batch.position_ids, labels=batch.labels, use_cache=False).loss
