"""The train worker as a launched group on one device, against the worker alone, for both backends.

    python benchmarks/gpu_group.py               # a CUDA machine: Unsloth and PEFT, alone and through torchrun
    python benchmarks/gpu_group.py --device cpu  # the same on CPU (PEFT only): checks the script itself

`student.devices: N` starts the worker as `torchrun --standalone --nproc-per-node N -m studio.train RUN_DIR`, and
every rank trains through accelerate (`studio.train.group`). A lent machine has one GPU, so the group measured
here has one rank: it runs accelerate's path (prepare, reduce, no_sync) without DDP's gradient exchange. Each run
trains a small random Llama-shaped model for a few steps on 32 FireAct trajectories; the table gives the median
tokens/s of the steps after the first and the peak memory the worker reported (CUDA: allocated; CPU: RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gpu_smoke import ROOT, small_llama, write_run

STEPS = 8


def one_run(work: Path, model: Path, backend: str, launched: bool) -> dict:
    from studio.train.group import launch_command

    run_dir = work / f"{backend}-{'torchrun' if launched else 'alone'}"
    write_run(run_dir, "gpu-group", {"model": str(model), "backend": backend, "max_steps": STEPS, "batch_size": 4,
                                     "max_seq_length": 512}, examples=32)
    worker = ["-m", "studio.train", str(run_dir)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", *worker] \
        if launched else launch_command(sys.executable, 1, worker)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    start = next((e for e in events if e["event"] == "start"), {})
    errors = [e["message"] for e in events if e["event"] == "error"]
    return {"backend": start.get("backend", backend), "launcher": "torchrun, 1 rank" if launched else "alone",
            "device": start.get("device"), "precision": start.get("precision"), "steps": len(steps),
            "tokens_per_s": statistics.median(e["tokens_per_s"] for e in steps[1:]) if len(steps) > 1 else None,
            "memory_mb": max((e["memory_mb"] for e in steps), default=None),
            "ok": done.returncode == 0 and events[-1]["event"] == "done",
            "error": errors[-1] if errors else (None if done.returncode == 0 else done.stderr[-400:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gpu-group-"))
    small_llama(work / "model")
    backends = ["unsloth", "peft"] if args.device == "cuda" else ["peft"]
    rows = [one_run(work, work / "model", backend, launched) for backend in backends for launched in (False, True)]
    lines = ["| backend | launcher | device | precision | steps | tokens/s | peak memory MB | ok |", "|---" * 8 + "|"]
    for r in rows:
        tps = f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] else "-"
        mem = f"{r['memory_mb']:.0f}" if r["memory_mb"] else "-"
        lines.append(f"| {r['backend']} | {r['launcher']} | {r['device']} | {r['precision']} | {r['steps']} | "
                     f"{tps} | {mem} | {'yes' if r['ok'] else 'no: ' + str(r['error'])[:200]} |")
    for backend in backends:
        alone, launched = (next(r for r in rows if r["backend"] == backend and r["launcher"].startswith(w))
                           for w in ("alone", "torchrun"))
        if alone["tokens_per_s"] and launched["tokens_per_s"]:
            ratio = launched["tokens_per_s"] / alone["tokens_per_s"]
            lines.append(f"\n{backend}: tokens/s through torchrun / alone = {ratio:.2f}")
    report = "\n".join(lines)
    print(report)
    out = os.environ.get("OUT")
    if out:
        Path(out, f"group_{args.device}.md").write_text(report + "\n")
    sys.exit(0 if all(r["ok"] for r in rows) else 1)


if __name__ == "__main__":
    main()
