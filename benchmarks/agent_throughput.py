"""Local student throughput: LocalBackend with N requests in flight against the same requests one at a time.

Default mode, whole episodes (`--episodes`, the issue's measure): the first N HotpotQA dev questions go through
the real agent loop (`EpisodeRunner`: few-shot ReAct, local BM25 search, at most --max-steps steps) twice on
the same backend, once with N episodes in flight and once one question at a time (the way the paper's code
ran); prints episodes/min of each and the ratio, and checks both runs gave every question the same steps and
answer.

Request mode (`--requests`): builds N few-shot ReAct prompts (600-900 tokens: an instruction, recorded HotpotQA
trajectories from `studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json`, then a new question and
"Thought:"),
generates max_tokens 64 with stop "\\nObservation:" greedily, once as one batched call and once request by
request (each its own key, released afterwards), and prints generated tokens/s of each and their ratio.
Both runs must produce the same texts (batched output equals unbatched output); the script checks it.

Engines (`--engines local,cb`, episodes mode): each named engine runs the same questions with N episodes in
flight, in one process, alternating engine by engine (`--repeats` times, best of each); prints episodes/min of
each, the ratio of every later engine to the first, whether all took the same steps and answers, and the CPU's
flags. `local` is `LocalBackend`; `cb` is transformers' own continuous batching (`benchmarks/cb_backend.py`,
`model.init_continuous_batching()`, paged attention), measured against it for issue #24.

    .venv/bin/python benchmarks/agent_throughput.py [--n 16] [--k 3] [--max-steps 4] [--model bundled:gemma-3-270m]
    .venv/bin/python benchmarks/agent_throughput.py --engines local,cb [--n 16] [--max-steps 4] [--repeats 1]
    .venv/bin/python benchmarks/agent_throughput.py --requests [--n 16] [--max-tokens 64] [--distinct]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.llm.base import Request  # noqa: E402

FINETUNE = ROOT / "studio" / "tasks" / "data" / "fireact" / "finetune" / "alpaca_format" / "hotpotqa.json"
INSTRUCTION = (
    "Solve a question answering task with interleaving Thought, Action, Observation steps. Thought can reason "
    "about the current situation, and Action can be two types:\n(1) search[query], which searches the web and "
    "returns the most relevant passage.\n(2) finish[answer], which returns the answer and finishes the task.\n"
    "Here are some examples.\n"
)
STOP = ["\nObservation:"]
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_flags() -> str:
    """Which of the vector-math flags that decide CPU matmul speed this CPU has."""
    cpuinfo = Path("/proc/cpuinfo")
    words = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    return ", ".join(f for f in FLAGS if f in words) or "none of " + ", ".join(FLAGS)


def react_prompts(n: int, tokenizer, low: int = 600, high: int = 900, shared: bool = True) -> list[str]:
    """n few-shot ReAct prompts of low..high tokens, each ending in its own question.

    shared: every prompt carries the same examples (as the agent's few-shot prompts do, so a backend can reuse
    their KV cache across episodes); otherwise each prompt draws its own examples (nothing shared but the
    instruction). Examples are added until a prompt reaches `low` tokens.
    """
    records = json.loads(FINETUNE.read_text())
    examples = [f"Question: {r['instruction']}\n{r['output'].strip()}\n" for r in records[:300]]
    questions = [r["instruction"] for r in records[300:]]
    out = []
    for i in range(n):
        parts = [INSTRUCTION]
        j = 0 if shared else i * 5
        while True:
            candidate = [*parts, examples[j % len(examples)]]
            j += 1
            text = "\n".join([*candidate, f"(END OF EXAMPLES)\nQuestion: {questions[i]}\nThought:"])
            size = len(tokenizer(text)["input_ids"])
            if size > high:
                continue
            parts = candidate
            if size >= low:
                out.append(text)
                break
    return out


def measure_generation(backend, prompts: list[str], max_tokens: int = 64, stop: list[str] | None = None,
                       batched: bool = True) -> dict:
    """Generate for every prompt, all in one call (batched) or one call per prompt; tokens/s and texts."""
    stop = STOP if stop is None else stop
    keys = [f"bench-{batched}-{i}" for i in range(len(prompts))]
    t0, c0 = time.perf_counter(), time.process_time()
    if batched:
        outs = backend.generate([Request(k, p) for k, p in zip(keys, prompts, strict=True)], stop, max_tokens)
        for k in keys:
            backend.release(k)
    else:
        outs = []
        for k, p in zip(keys, prompts, strict=True):
            outs.extend(backend.generate([Request(k, p)], stop, max_tokens))
            backend.release(k)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tokens_out = sum(o.tokens_out for o in outs)
    return {"batched": batched, "requests": len(prompts), "wall_s": wall, "cpu_s": cpu,
            "tokens_in": sum(o.tokens_in for o in outs), "tokens_out": tokens_out, "tok_per_s": tokens_out / wall,
            "req_per_min": 60 * len(outs) / wall, "errors": [o.error for o in outs if o.error],
            "texts": [o.text for o in outs]}


def measure_episodes(backend, questions, spec, in_flight: int) -> dict:
    """Run every question through the agent loop with `in_flight` episodes advancing together."""
    from studio.agents.react_step import EpisodeRunner
    from studio.recipe.schema import Tool
    from studio.tools.search import Search
    from studio.tools.toolbox import search_toolbox

    episodes = []
    runner = EpisodeRunner(backend, search_toolbox(Search(Tool())), spec, in_flight=in_flight)
    computed = getattr(backend, "stats", {}).get("prefill_tokens")
    t0, c0 = time.perf_counter(), time.process_time()
    runner.run(questions, episodes.append)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    episodes.sort(key=lambda e: e.question_id)
    tokens_in = sum(e.tokens_in for e in episodes)
    if computed is not None:  # a backend that reuses KV caches computes fewer prompt tokens than it is sent
        computed = backend.stats["prefill_tokens"] - computed
    return {"in_flight": in_flight, "wall_s": wall, "cpu_s": cpu, "episodes": len(episodes),
            "tokens_in": tokens_in, "computed": tokens_in if computed is None else computed,
            "per_min": 60 * len(episodes) / wall, "steps": sum(len(e.steps) for e in episodes),
            "tokens_out": sum(e.tokens_out for e in episodes), "errors": sum(bool(e.error) for e in episodes),
            "em": sum(e.em or 0 for e in episodes),
            "trace": [(e.prediction, [s.action for s in e.steps]) for e in episodes]}


def _questions_and_spec(args):
    from studio.agents.loop import AgentSpec
    from studio.tasks import draw

    questions = draw("hotpotqa", "dev", None, args.n, None)
    spec = AgentSpec("react", "prompted", k=args.k, max_steps=args.max_steps, max_tokens=args.max_tokens)
    print(f"{len(questions)} HotpotQA dev questions, few-shot ReAct k={args.k}, at most {args.max_steps} steps, "
          f"max_tokens {args.max_tokens} per step, local search")
    return questions, spec


def _clear(backend) -> None:
    if hasattr(backend, "clear"):  # a backend that keeps KV caches between calls starts each run empty
        backend.clear()


def engines_mode(args, backends: dict) -> None:
    """The same questions on each engine, N episodes in flight; ratios against the first engine."""
    questions, spec = _questions_and_spec(args)
    runs: dict[str, list[dict]] = {name: [] for name in backends}
    for _ in range(args.repeats):
        for name, backend in backends.items():
            _clear(backend)
            runs[name].append(measure_episodes(backend, questions, spec, args.n))
    best = {name: max(v, key=lambda r: r["per_min"]) for name, v in runs.items()}
    for name, r in best.items():
        walls = ", ".join(f"{x['wall_s']:.1f}" for x in runs[name])
        print(f"{name:>6}, {args.n} in flight: {r['wall_s']:7.1f} s (runs: {walls}; CPU {r['cpu_s']:.1f} s), "
              f"{r['episodes']} episodes, {r['steps']} steps, {r['tokens_in']} prompt tokens sent, "
              f"{r['computed']} computed, {r['tokens_out']} tokens out, EM {r['em']:.0f}, errors {r['errors']}, "
              f"{r['per_min']:6.2f} episodes/min")
    first = next(iter(best))
    for name in list(best)[1:]:
        print(f"ratio (episodes/min, {name} / {first}): {best[name]['per_min'] / best[first]['per_min']:.2f}x")
    same = all(r["trace"] == best[first]["trace"] for v in runs.values() for r in v)
    print(f"same steps and answers on every engine and run: {same}")
    if not same:
        for name in list(best)[1:]:
            for i, (a, b) in enumerate(zip(best[first]["trace"], best[name]["trace"], strict=True)):
                if a != b:
                    print(f"  question {i}: {first} {a}\n              {name} {b}")


def episodes_mode(args, backend) -> None:
    questions, spec = _questions_and_spec(args)
    runs: dict[int, list[dict]] = {1: [], args.n: []}
    for _ in range(args.repeats):
        for in_flight in runs:
            _clear(backend)
            runs[in_flight].append(measure_episodes(backend, questions, spec, in_flight))
    best = {k: max(v, key=lambda r: r["per_min"]) for k, v in runs.items()}
    for in_flight, r in best.items():
        label = "one at a time" if in_flight == 1 else f"{in_flight} in flight"
        print(f"{label:>14}: {r['wall_s']:7.1f} s (CPU {r['cpu_s']:.1f} s), {r['episodes']} episodes, "
              f"{r['steps']} steps, {r['tokens_out']} tokens out, EM {r['em']:.0f}, errors {r['errors']}, "
              f"{r['per_min']:6.2f} episodes/min")
    same = all(r["trace"] == best[1]["trace"] for v in runs.values() for r in v)
    print(f"ratio (episodes/min, {args.n} in flight / one at a time): "
          f"{best[args.n]['per_min'] / best[1]['per_min']:.2f}x; same steps and answers: {same}")


def requests_mode(args, backend) -> None:
    prompts = react_prompts(args.n, backend.tokenizer, shared=not args.distinct)
    sizes = [len(backend.tokenizer(p)["input_ids"]) for p in prompts]
    print(f"{args.n} prompts of {min(sizes)}-{max(sizes)} tokens (mean {sum(sizes) / len(sizes):.0f}), "
          f"{'distinct' if args.distinct else 'shared'} few-shot examples, max_tokens {args.max_tokens}")
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.repeats):
        for batched in (False, True):
            # Each run starts from an empty cache: nothing carried over from the other mode.
            _clear(backend)
            runs[batched].append(measure_generation(backend, prompts, args.max_tokens, batched=batched))
    single = max(runs[False], key=lambda r: r["tok_per_s"])
    batch = max(runs[True], key=lambda r: r["tok_per_s"])
    for r in (single, batch):
        label = f"{args.n} in flight" if r["batched"] else "one at a time"
        walls = ", ".join(f"{x['wall_s']:.1f}" for x in runs[r["batched"]])
        print(f"{label:>14}: {r['wall_s']:7.1f} s (runs: {walls}; CPU {r['cpu_s']:.1f} s), "
              f"{r['tokens_out']} tokens out, {r['tok_per_s']:6.2f} tok/s, {r['req_per_min']:6.1f} requests/min, "
              f"errors {len(r['errors'])}")
    same = all(r["texts"] == single["texts"] for r in runs[False] + runs[True])
    print(f"ratio (batched / one at a time, tokens/s): {batch['tok_per_s'] / single['tok_per_s']:.2f}x "
          f"(by CPU time: {single['cpu_s'] / batch['cpu_s']:.2f}x); texts identical: {same}")
    if not same:
        for i, (a, b) in enumerate(zip(single["texts"], batch["texts"], strict=True)):
            if a != b:
                print(f"  prompt {i}: one at a time {a!r}\n            batched {b!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", action="store_true", help="measure single generation calls, not episodes")
    ap.add_argument("--n", type=int, default=16, help="questions (episodes mode) or prompts (requests mode)")
    ap.add_argument("--k", type=int, default=3, help="few-shot examples per prompt (episodes mode)")
    ap.add_argument("--max-steps", type=int, default=4, help="step limit per episode (episodes mode)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--model", default="bundled:gemma-3-270m")
    ap.add_argument("--device", default=None)
    ap.add_argument("--distinct", action="store_true", help="each prompt has its own examples (requests mode)")
    ap.add_argument("--repeats", type=int, default=1, help="alternate the two runs this many times; best of each")
    ap.add_argument("--engines", default="local",
                    help="comma-separated: local (LocalBackend), cb (transformers' continuous batching); two or "
                         "more compare the engines at --n in flight (episodes mode)")
    ap.add_argument("--cb-batch-tokens", type=int, default=512, help="cb: tokens per forward")
    args = ap.parse_args()

    import torch

    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.requests and len(names) > 1:
        ap.error("--requests measures one engine")
    backends = {}
    for name in names:
        t0 = time.perf_counter()
        if name == "local":
            from studio.llm.local import LocalBackend

            backends[name] = LocalBackend(args.model, device=args.device, max_batch=args.n)
        elif name == "cb":
            from cb_backend import ContinuousBatchingBackend

            backends[name] = ContinuousBatchingBackend(args.model, device=args.device, max_batch=args.n,
                                                       max_batch_tokens=args.cb_batch_tokens)
        else:
            ap.error(f"unknown engine {name!r} (local, cb)")
        backends[name].generate([Request("warmup", INSTRUCTION)], STOP, 4)
        _clear(backends[name])
        print(f"engine {name}: loaded and warmed up in {time.perf_counter() - t0:.1f} s")
    device = next(iter(backends.values())).device
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, CPU flags: {cpu_flags()}")
    if len(backends) > 1:
        engines_mode(args, backends)
    else:
        (requests_mode if args.requests else episodes_mode)(args, next(iter(backends.values())))


if __name__ == "__main__":
    main()
