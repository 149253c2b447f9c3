"""The training loop, in plain sight: AdamW, warmup then linear decay, gradient accumulation,
metrics every step, resumable checkpoints every N steps."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from studio.recipe.schema import Student
from studio.train.batches import batch_order, batches
from studio.train.group import Group
from studio.train.masking import Example

Emit = Callable[[dict], None]


def micro_batches(student: Student) -> int:
    """Micro-batches in one optimizer step, over every device of the group."""
    return student.grad_accum * student.devices


def total_steps(student: Student, n_examples: int) -> int:
    per_epoch = math.ceil(n_examples / student.batch_size / micro_batches(student))
    return student.max_steps or max(1, math.ceil(per_epoch * student.epochs))


def _lr_at(step: int, total: int, peak: float) -> float:
    warmup = max(1, min(10, total // 20))
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(0.0, (total - step) / max(1, total - warmup))


def _memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The newest finished checkpoint: a `step-N.tmp` is one being written (or left by a kill) and never counts."""
    found = [p for p in (out_dir / "checkpoints").glob("step-*") if p.name[5:].isdigit()]
    return max(found, key=lambda p: int(p.name[5:]), default=None)


def _save_checkpoint(model, optimizer, step: int, out_dir: Path) -> Path:
    import torch

    path = out_dir / "checkpoints" / f"step-{step}"
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "step": step}, tmp / "trainer_state.pt")
    tmp.rename(path)
    return path


def load_adapter_weights(model, folder: Path) -> None:
    """Put the LoRA weights saved in `folder` (a checkpoint, or an earlier run's adapter) into `model`."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))


def _load_checkpoint(model, optimizer, path: Path) -> int:
    import torch

    load_adapter_weights(model, path)
    state = torch.load(path / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    return state["step"]


def train_loop(model, examples: list[Example], student: Student, pad_id: int, device: str, out_dir: Path,
               loss_fn: Callable, emit: Emit, autocast_dtype=None, group: Group | None = None) -> int:
    """Train until the recipe's step count; returns the last step. Resumes from the latest checkpoint. In a
    group every rank runs this; each takes its share of every optimizer step's micro-batches, and the loss and
    throughput it reports are the group's."""
    import torch

    from studio.train.loss import Objective

    group = group or Group()
    steps = total_steps(student, len(examples))
    per_step = micro_batches(student)
    epochs = math.ceil(steps * student.batch_size * per_step / max(1, len(examples))) + 1
    order = batch_order(len(examples), student.batch_size, epochs, student.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=student.learning_rate, weight_decay=0.0)
    step = 0
    checkpoint = latest_checkpoint(out_dir)
    if checkpoint is not None:
        step = _load_checkpoint(model, optimizer, checkpoint)
        emit({"event": "resumed", "step": step, "checkpoint": str(checkpoint)})
    objective = group.prepare(Objective(model, loss_fn))
    objective.train()
    # Micro-batch i of the one order goes to rank i % size: rank r's share of step s is what one process
    # accumulating `per_step` micro-batches would see at positions r, r + size, ...
    mine = order[step * per_step:][group.rank::group.size]
    stream = batches(examples, mine, pad_id, student.packing, device)
    batches_per_epoch = math.ceil(len(examples) / student.batch_size)
    while step < steps:
        started, tokens, loss_sum = time.perf_counter(), 0, 0.0
        for g in optimizer.param_groups:
            g["lr"] = _lr_at(step, steps, student.learning_rate)
        for k in range(student.grad_accum):
            batch = next(stream)
            with group.syncing(objective, k == student.grad_accum - 1):
                with torch.autocast(device_type=device, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    loss = objective(batch) / student.grad_accum
                loss.backward()
            tokens += batch.tokens
            loss_sum += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_sum, tokens = group.mean(loss_sum), group.sum(tokens)
        elapsed = time.perf_counter() - started
        emit({"event": "step", "step": step, "epoch": round(step * per_step / batches_per_epoch, 4),
              "loss": loss_sum, "learning_rate": optimizer.param_groups[0]["lr"],
              "tokens_per_s": tokens / elapsed, "seconds": elapsed, "memory_mb": _memory_mb(device)})
        if step % student.checkpoint_every == 0 and step < steps and group.main:
            emit({"event": "checkpoint", "step": step, "path": str(_save_checkpoint(model, optimizer, step, out_dir))})
    return step


def jsonl_emitter(path: Path) -> Emit:
    """Metrics as JSON lines, flushed per line so the owning process can tail them."""
    handle = path.open("a", encoding="utf-8")

    def emit(record: dict) -> None:
        handle.write(json.dumps(record) + "\n")
        handle.flush()

    return emit
