"""Engine throughput: episodes/min and EM of each engine on the same questions, prompted and fine-tuned.

Runs the project's own agent loop (`EpisodeRunner`, local BM25 search, greedy, at most 8 steps) on the first N
HotpotQA eval250 questions with the bundled Gemma 3 270M on each engine, in two modes:
  * prompted: the base model with 3 ReAct examples (the evaluation's default prompt);
  * fine-tuned: zero-shot with a LoRA adapter (`--adapter`, else one trained here by recipes/quickstart.yaml's
    settings, about a minute).
Engines: `transformers` (the studio's batched engine, 16 episodes in flight) and `llama.cpp` (llama-server on
the Q4_K_M GGUF, the adapter converted to a GGUF LoRA, 16 slots). Each engine is started, then timed over the
episodes alone; start-up (model load, server start, adapter conversion) is printed beside it. One engine runs
at a time: llama.cpp's threads spin, and two CPU-heavy processes on 2 cores slow each other by 3x to 100x.

    .venv/bin/python benchmarks/engine_throughput.py [--n 32] [--engines transformers,llama.cpp] [--adapter DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import Store
from studio.agents.react_step import EpisodeRunner
from studio.llm.engines import open_backend
from studio.recipe.io import load_recipe
from studio.recipe.schema import Engine
from studio.stages.runner import agent_spec
from studio.tasks import draw
from studio.tools.search import Search
from studio.tools.toolbox import search_toolbox

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_flags() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    words = set(text.split())
    return ", ".join(f for f in FLAGS if f in words) or "none of " + ", ".join(FLAGS)


def train_adapter(store: Store) -> str:
    from studio.stages.pipeline import run_recipe

    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    results = run_recipe(recipe, store, ("generate", "train"))
    return results["train"].adapter


def measure(recipe, store: Store, engine: str, agent: str, adapter: str | None, questions) -> dict:
    spec = agent_spec(recipe, agent, "react")
    t0 = time.perf_counter()
    with open_backend(Engine(name=engine), recipe.student.model, adapter, max_tokens=spec.max_tokens) as backend:
        started = time.perf_counter() - t0
        episodes = []
        runner = EpisodeRunner(backend, search_toolbox(Search(recipe.tool, store), recipe.tool.backend), spec,
                               in_flight=16)
        t1 = time.perf_counter()
        runner.run(questions, episodes.append)
        wall = time.perf_counter() - t1
    by_id = {e.question_id: e for e in episodes}
    return {"engine": engine, "agent": agent, "start_s": started, "wall_s": wall,
            "per_min": 60 * len(episodes) / wall, "em": 100 * sum(e.em or 0 for e in episodes) / len(episodes),
            "finished": 100 * sum(e.finished for e in episodes) / len(episodes),
            "steps": sum(len(e.steps) for e in episodes) / len(episodes),
            "errors": sum(e.error is not None for e in episodes), "right": {i for i, e in by_id.items() if e.em}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="questions (first N of hotpotqa eval250)")
    parser.add_argument("--engines", default="transformers,llama.cpp")
    parser.add_argument("--adapter", help="PEFT adapter of the bundled model (default: train one, quickstart-sized)")
    args = parser.parse_args()
    engines = args.engines.split(",")

    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    questions = draw("hotpotqa", "eval250", None, args.n, None)
    print(f"{os.cpu_count()} cores ({cpu_flags()}); {len(questions)} HotpotQA eval250 questions, greedy, "
          f"at most {recipe.evaluation.max_steps} steps, 16 in flight; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("STUDIO_RUNS", str(Path(tmp) / "runs"))
        with Store(Path(tmp) / "bench.duckdb") as store:
            adapter = args.adapter
            if adapter is None:
                t0 = time.perf_counter()
                adapter = train_adapter(store)
                print(f"trained the quickstart adapter in {time.perf_counter() - t0:.0f} s: {adapter}")
            results = []
            for agent, with_adapter in (("prompted", None), ("finetuned", adapter)):
                for engine in engines:
                    r = measure(recipe, store, engine, agent, with_adapter, questions)
                    results.append(r)
                    print(f"  {agent:<9} {engine:<12} {r['per_min']:6.1f} episodes/min  EM {r['em']:5.1f}  "
                          f"finished {r['finished']:5.1f}%  steps {r['steps']:.2f}  errors {r['errors']}  "
                          f"({r['wall_s']:.1f} s for the episodes, {r['start_s']:.1f} s to start)")
    print()
    base = engines[0]
    for agent in ("prompted", "finetuned"):
        rows = {r["engine"]: r for r in results if r["agent"] == agent}
        for engine in engines[1:]:
            a, b = rows[base], rows[engine]
            only = len(a["right"] ^ b["right"])
            print(f"{agent}: {engine} / {base} = {b['per_min'] / a['per_min']:.2f}x episodes/min; EM {b['em']:.1f} "
                  f"vs {a['em']:.1f} (n {len(questions)}, difference {b['em'] - a['em']:+.1f}, {only} questions "
                  f"right on one engine only)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
