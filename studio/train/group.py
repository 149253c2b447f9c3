"""The processes one training run uses: this process alone, or one rank of a torchrun group.

A group (`student.devices` > 1) is started by the train stage as `torchrun --standalone --nproc-per-node N -m
studio.train RUN_DIR`; each rank builds the same model, and accelerate wraps it in DistributedDataParallel
(gloo on CPU, NCCL on CUDA), which averages the gradients in `backward`. Rank r takes every N-th micro-batch of
the one batch order, so an optimizer step sees the same examples as one process accumulating N times as many
micro-batches. Rank 0 alone writes metrics, checkpoints and the adapter.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


def launch_command(python: str, devices: int, worker: list[str]) -> list[str]:
    """The command that runs `worker` (the arguments after `python`) on `devices` processes."""
    if devices == 1:
        return [python, *worker]
    # --standalone: a rendezvous on a free local port; no restarts: a rank that dies stops the group, and the
    # train stage's rerun resumes it from the last checkpoint.
    return [python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(devices),
            "--max-restarts", "0", "--monitor-interval", "0.5", *worker]


def launch_env(devices: int, env: dict[str, str]) -> dict[str, str]:
    """`env` for the launch: a group's ranks share the cores (torchrun would give each one thread)."""
    if devices == 1 or "OMP_NUM_THREADS" in env:
        return env
    return {**env, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // devices))}


@dataclass
class Group:
    """This process's place in the run: `accelerator` is None when the run is one process."""

    accelerator: object | None = None

    @property
    def rank(self) -> int:
        return self.accelerator.process_index if self.accelerator else 0

    @property
    def size(self) -> int:
        return self.accelerator.num_processes if self.accelerator else 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def prepare(self, module):
        """`module` as this process trains it: wrapped for gradient averaging in a group."""
        return self.accelerator.prepare(module) if self.accelerator else module

    def syncing(self, module, sync: bool):
        """Context of one micro-batch's backward: gradients are averaged over the group only when `sync` (the
        last micro-batch of an optimizer step), as DDP's `no_sync` intends."""
        if self.accelerator is None or sync:
            return contextlib.nullcontext()
        return self.accelerator.no_sync(module)

    def mean(self, value: float) -> float:
        return self.sum(value) / self.size

    def sum(self, value: float) -> float:
        if self.accelerator is None:
            return value
        import torch

        return self.accelerator.reduce(torch.tensor([float(value)], device=self.accelerator.device), "sum").item()

    def end(self) -> None:
        if self.accelerator is not None:
            self.accelerator.end_training()


PEER_LOST = ("closed by peer", "reset by peer", "remote worker crash", "Broken pipe")  # gloo's words for it


def lost_peer(exc: BaseException) -> bool:
    """Whether `exc` is a rank's collective failing because another rank of its group died, not a fault of its
    own: gloo raises a plain RuntimeError for it, NCCL and the rendezvous store torch.distributed's DistError."""
    import torch.distributed as dist

    return isinstance(exc, dist.DistError) or any(words in str(exc) for words in PEER_LOST)


def join(devices: int) -> Group:
    """Join the group this process was started in (torchrun's environment), checking it is the size the recipe
    asks for: a run started by hand on the wrong number of processes would mean another global batch. A group
    of one (`torchrun --nproc-per-node 1`) runs the same accelerate path as a larger one, for checks on one GPU."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size != devices:
        raise ValueError(f"student.devices is {devices} but this worker runs on {size} process(es): start it "
                         "through the train stage, or as "
                         f"`torchrun --standalone --nproc-per-node {devices} -m studio.train DIR`")
    if "LOCAL_RANK" not in os.environ:  # started alone, not by a launcher
        return Group()
    import torch
    from accelerate import Accelerator

    cuda = torch.cuda.is_available()
    if cuda:  # every rank on its own GPU, so that `.to("cuda")` lands there
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    return Group(Accelerator(cpu=not cuda))
