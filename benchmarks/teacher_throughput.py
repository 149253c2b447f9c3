"""Teacher throughput: the same prompts through OpenAIBackend at concurrency 1 and at concurrency N.

Starts llama.cpp's `llama-server` (from `setup.sh`) on the bundled Gemma 3 270M GGUF with N parallel slots,
sends N short HotpotQA-style prompts (ReAct's first step) with max_tokens 48, and prints requests/min for
each client concurrency and their ratio. llama-server batches the requests of its busy slots into one
forward, so client concurrency pays off against it as it does against vLLM or a hosted API.

llama.cpp's threads meet at a barrier after every operation, so its speed collapses when another CPU-heavy
process shares the cores: measure on a quiet machine, and compare only runs made side by side.

    .venv/bin/python benchmarks/teacher_throughput.py [--n 16] [--concurrency 8] [--max-tokens 48] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.llm.base import Request
from studio.llm.gguf_files import bundled_gguf
from studio.llm.llama_cpp import llama_server
from studio.llm.openai_compat import OpenAIBackend
from studio.recipe.schema import Teacher
from studio.tasks.loaders import load_questions

ALIAS = "gemma-3-270m"

INSTRUCTION = (
    "Solve a question answering task with interleaving Thought, Action, Observation steps. "
    "Action can be search[query] or finish[answer].\n"
)


def prompts(n: int) -> list[str]:
    questions = load_questions("hotpotqa", "dev")[:n]
    return [f"{INSTRUCTION}Question: {q.question}\nThought:" for q in questions]


def run(url: str, texts: list[str], concurrency: int, max_tokens: int) -> dict:
    teacher = Teacher(model=ALIAS, base_url=url, api_key_env="LLAMA_SERVER_KEY", api="completions",
                      temperature=0.0, max_tokens=max_tokens, concurrency=concurrency, timeout_s=120, max_retries=2)
    with OpenAIBackend(teacher) as backend:
        requests = [Request(key=f"q{i}", prompt=p) for i, p in enumerate(texts)]
        t0 = time.perf_counter()
        outs = backend.generate(requests, stop=["\nObservation:"], max_tokens=max_tokens)
        wall = time.perf_counter() - t0
        errors = [o.error for o in outs if o.error]
        tokens_out = sum(o.tokens_out for o in outs)
        return {
            "concurrency": concurrency, "wall_s": wall, "req_per_min": 60 * len(outs) / wall,
            "tokens_out": tokens_out, "tok_per_s": tokens_out / wall, "errors": len(errors),
            "retries": backend.retries, "mean_latency_s": sum(o.latency_s for o in outs) / len(outs),
            "texts": [o.text for o in outs],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="number of prompts")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--repeats", type=int, default=2,
                        help="rounds; each runs both concurrencies, alternating which goes first, medians reported")
    args = parser.parse_args()

    texts = prompts(args.n)
    print(f"llama-server, bundled Gemma 3 270M Q4_K_M, {args.threads} threads, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; {len(texts)} HotpotQA prompts, max_tokens {args.max_tokens}, greedy")
    levels = (1, args.concurrency)
    runs: dict[int, list[dict]] = {c: [] for c in levels}
    t0 = time.perf_counter()
    with llama_server(bundled_gguf(), parallel=args.concurrency, ctx_per_slot=2048, threads=args.threads,
                      alias=ALIAS) as server:
        url = server.base_url
        print(f"server up in {time.perf_counter() - t0:.1f} s at {url}")
        run(url, texts[:2], 1, args.max_tokens)  # warm-up: load pages, fill caches
        for i in range(args.repeats):
            for c in levels if i % 2 == 0 else levels[::-1]:  # alternate, so drifting machine load hits both
                r = run(url, texts, c, args.max_tokens)
                runs[c].append(r)
                print(f"  round {i + 1}, concurrency {c:>2}: {r['req_per_min']:6.1f} requests/min "
                      f"({r['wall_s']:.1f} s wall, {r['tok_per_s']:.1f} output tok/s, "
                      f"mean latency {r['mean_latency_s']:.2f} s, {r['errors']} errors, {r['retries']} retries)")
    medians = {c: statistics.median(r["req_per_min"] for r in runs[c]) for c in levels}
    for c in levels:
        print(f"concurrency {c:>2}: {medians[c]:7.1f} requests/min (median of {len(runs[c])})")
    print(f"ratio concurrency {args.concurrency} / concurrency 1: {medians[args.concurrency] / medians[1]:.2f}x")
    same = sum(a == b for a, b in zip(runs[1][0]["texts"], runs[args.concurrency][0]["texts"], strict=True))
    print(f"identical replies at both concurrencies: {same}/{len(texts)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
