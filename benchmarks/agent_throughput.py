"""Local student throughput: LocalBackend with N requests in flight against the same requests one at a time.

Builds N few-shot ReAct prompts (600-900 tokens: an instruction, recorded HotpotQA trajectories from
`studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json`, then a new question and "Thought:"),
generates max_tokens 64 with stop "\\nObservation:" greedily, once as one batched call and once request by
request (each its own key, released afterwards), and prints generated tokens/s of each and their ratio.
Both runs must produce the same texts (batched output equals unbatched output); the script checks it.

    .venv/bin/python benchmarks/agent_throughput.py [--n 16] [--max-tokens 64] [--model bundled:gemma-3-270m]

`measure_generation` is the reusable piece (the agent-loop benchmark calls it with its own prompts).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--model", default="bundled:gemma-3-270m")
    ap.add_argument("--device", default=None)
    ap.add_argument("--distinct", action="store_true", help="each prompt has its own examples (no shared prefix)")
    ap.add_argument("--repeats", type=int, default=1, help="alternate the two runs this many times; best of each")
    args = ap.parse_args()

    import torch

    from studio.llm.local import LocalBackend

    backend = LocalBackend(args.model, device=args.device, max_batch=args.n)
    prompts = react_prompts(args.n, backend.tokenizer, shared=not args.distinct)
    sizes = [len(backend.tokenizer(p)["input_ids"]) for p in prompts]
    print(f"device {backend.device}, torch threads {torch.get_num_threads()}, {args.n} prompts of "
          f"{min(sizes)}-{max(sizes)} tokens (mean {sum(sizes) / len(sizes):.0f}), "
          f"{'distinct' if args.distinct else 'shared'} few-shot examples, max_tokens {args.max_tokens}")
    backend.generate([Request("warmup", prompts[0][-200:])], STOP, 4)
    backend.clear()

    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.repeats):
        for batched in (False, True):
            # Each run starts from an empty cache: nothing carried over from the other mode.
            backend.clear()
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


if __name__ == "__main__":
    main()
