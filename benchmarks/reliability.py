"""Reliability figures for the README: kill -9 during each stage, a teacher failing 30% of requests, fuzzed
inputs, and a planted API key looked for in everything the studio wrote.

1. kill -9 of `launch.py run` half-way through generate (teacher: llama-server), evaluate (prompted student
   on the llama.cpp engine) and train (checkpoints every 10 steps); then the store is opened again (the run
   must read `interrupted`) and the command rerun: episodes kept, lost and duplicated, and where training
   resumed.
2. The generate stage through `chaos.FaultProxy` at 30% (429 with Retry-After, 500, malformed JSON, hangs,
   and a 401 quoting the key), then rerun without faults: every question accounted for.
3. Fuzzed recipes, trajectory files and question files: accepted, refused (one clear error) or crashed.
4. A planted key (`sk-planted-...`) looked for in every file under the work folder and every text column
   of the store.

Runs one CPU-heavy process at a time (llama.cpp's threads spin: two at once slow each other many times).

    .venv/bin/python benchmarks/reliability.py [--n 24] [--fuzz 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.chaos import FaultProxy, files_holding, fuzz_inputs, rows_holding  # noqa: E402
from storage import Store  # noqa: E402
from studio.llm.gguf_files import bundled_gguf  # noqa: E402
from studio.llm.llama_cpp import llama_server  # noqa: E402
from studio.recipe.schema import Recipe  # noqa: E402
from studio.stages.generate import generate  # noqa: E402

ALPACA = "studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json"
PROGRESS = re.compile(r"(\d+)/(\d+)\D")  # a whole "done/total", not one still being read


def cpu_flags() -> str:
    flags = set(Path("/proc/cpuinfo").read_text().split())
    return ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16") if f in flags) or "no AVX2"


def teacher(base_url: str, **extra) -> dict:
    return {"model": "gemma-3-270m", "base_url": base_url, "api": "completions", "few_shot_k": 1, "max_steps": 3,
            "max_tokens": 48, "concurrency": 4, "api_key_env": "RELIABILITY_KEY", **extra}


def kill_half_way(work: Path, recipe: dict, stage: str, stages: str | None = None) -> dict:
    """Run one stage through the CLI, SIGKILL it when half its progress is done, then rerun it to the end."""
    path = work / f"{recipe['name']}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    db = work / f"{recipe['name']}.duckdb"
    cmd = [sys.executable, str(ROOT / "launch.py"), "run", str(path), "--stages", stages or stage, "--db", str(db)]
    env = {**os.environ, "STUDIO_RUNS": str(work / "runs"), "RELIABILITY_KEY": "x"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)
    seen, killed_at, total = "", 0, 0
    while proc.poll() is None:
        seen += proc.stderr.read(1)
        found = PROGRESS.findall(seen[-40:])
        if found:
            done, total = map(int, found[-1])
            if total and done >= total // 2:
                killed_at = done
                break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(db) as store:
        (run,) = [r for r in store.list_runs() if r["stage"] == stage]
        status = run["status"]
        kept = len(store.trajectories(run["id"])) if stage != "train" else len(store.train_metrics(run["id"]))
    started = time.time()
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env)
    with Store(db) as store:
        run = store.get_run(run["id"])
        out = {"stage": stage, "killed_at": f"{killed_at}/{total}", "status_after_kill": status,
               "rerun_status": run["status"], "rerun_exit": rerun.returncode, "rerun_s": round(time.time() - started)}
        if stage == "train":
            from studio.stages.train import run_dir_for

            os.environ["STUDIO_RUNS"] = str(work / "runs")
            metrics = run_dir_for(store, run["id"]) / "metrics.jsonl"
            events = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
            resumed = [e["step"] for e in events if e.get("event") == "resumed"]
            out |= {"steps_stored_at_kill": kept, "resumed_from_step": resumed[-1] if resumed else 0,
                    "final_steps": len(store.train_metrics(run["id"]))}
        else:
            rows = store.trajectories(run["id"])
            keys = [r["key"] for r in rows]
            out |= {"episodes_kept": kept, "final_episodes": len(rows), "duplicated": len(keys) - len(set(keys)),
                    "lost": total - len(set(keys)), "failed": sum(r["error"] is not None for r in rows)}
    return out


def kills(work: Path, n: int) -> list[dict]:
    results = []
    with llama_server(bundled_gguf(), parallel=4, ctx_per_slot=2048, alias="gemma-3-270m") as server:
        results.append(kill_half_way(work, {
            "name": "kill-generate", "tasks": [{"task": "hotpotqa", "split": "dev", "n": n, "seed": 3}],
            "methods": ["react", "cot"], "teacher": teacher(server.base_url),
            "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 5}]}}, "generate"))
    results.append(kill_half_way(work, {
        "name": "kill-evaluate", "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 2 * n}],
                                                "agents": ["prompted"], "methods": ["react"], "engine": "llama.cpp"}},
        "evaluate"))
    results.append(kill_half_way(work, {
        "name": "kill-train", "trajectories": {"source": "import", "path": ALPACA, "format": "alpaca",
                                               "task": "hotpotqa"},
        "data": {"max_examples": 64},
        "student": {"max_seq_length": 512, "max_steps": 30, "batch_size": 2, "checkpoint_every": 10}}, "train",
        "generate,train"))
    return results


def faulty_teacher(work: Path, n: int, planted: str) -> dict:
    os.environ["RELIABILITY_KEY"] = planted
    os.environ["STUDIO_RUNS"] = str(work / "runs")
    with llama_server(bundled_gguf(), parallel=4, ctx_per_slot=2048, alias="gemma-3-270m") as server, \
            FaultProxy(server.base_url, rate=0.3, hang_s=30) as proxy, Store(work / "faults.duckdb") as store:
        recipe = Recipe.model_validate({
            "name": "faults", "tasks": [{"task": "hotpotqa", "split": "dev", "n": n, "seed": 5}],
            "methods": ["react", "cot"], "teacher": teacher(proxy.base_url, timeout_s=3, max_retries=3),
            "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 5}]}})
        started = time.time()
        first = generate(recipe, store)
        first_s = time.time() - started
        errors = [r["error"] for r in store.trajectories(first.run_id) if r["error"]]
        injected, requests = dict(proxy.counts), proxy.requests
        proxy.rate = 0.0
        second = generate(recipe, store)
        rows = store.trajectories(first.run_id)
        from studio.results.dashboards import save_dashboard

        save_dashboard(store, [first.run_id], "faults", html_path=work / "faults.html")
    return {"requests": requests, "injected": injected, "episodes": first.total, "first_pass_s": round(first_s),
            "failed_first_pass": first.failed,
            "failure_kinds": sorted({e.split(":")[0] for e in errors}),
            "retried_on_rerun": second.ran, "final_episodes": len(rows),
            "final_unique": len({r["key"] for r in rows}), "final_failed": sum(r["error"] is not None for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="questions per killed or faulty generate run")
    parser.add_argument("--fuzz", type=int, default=2000, help="fuzzed recipes (half as many of each file kind)")
    parser.add_argument("--keep", type=Path, help="keep the work folder here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    planted = f"sk-planted-{secrets.token_hex(12)}"
    print(f"CPU: {os.cpu_count()} cores, {cpu_flags()}; work folder {work}", flush=True)
    try:
        for result in kills(work, args.n):
            print("kill -9:", json.dumps(result), flush=True)
        print("faulty teacher:", json.dumps(faulty_teacher(work, args.n, planted)), flush=True)
        for kind, found in fuzz_inputs(work, args.fuzz, args.fuzz // 2, seed=11).items():
            shown = {k: v for k, v in found.items() if k != "crashes"}
            print(f"fuzz {kind}:", json.dumps(shown), *sorted(set(found["crashes"]))[:5], flush=True)
        files = [p for p in work.rglob("*") if p.is_file()]
        with Store(work / "faults.duckdb") as store:
            rows = rows_holding(store, planted)
        print(f"planted key: {len(files)} files searched, found in {files_holding(work, planted)}; "
              f"store columns holding it: {rows}", flush=True)
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
