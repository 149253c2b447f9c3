"""What calling a tool over MCP costs: episodes/min with the calculator through the shipped MCP server (stdio, one
session for the run) against the same `calculate` function called in-process, 16 episodes in flight (goal: MCP
costs under 10%).

Two models drive the same agent loop on the arithmetic task's train questions:
- `replay` (default): an instant model that writes each recorded trajectory's thoughts and actions back (a program
  wrote them, so every call is valid); the loop then spends its time on tools alone, the worst case for MCP.
- `model`: the bundled Gemma 3 270M, prompted with 3 recorded examples, on the transformers engine (batched and
  greedy, so both ways write the same episodes; llama-server's slots are not bit-stable across batch shapes): the
  time a real evaluation spends, with the tool's share inside it.
Both ways must produce the same episodes; the script checks it. After one untimed warm-up run, runs alternate
(in-process, MCP) `--repeats` times and the best of each counts.

    .venv/bin/python benchmarks/mcp_overhead.py [--model replay|model] [--n 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.agents.loop import AgentSpec  # noqa: E402
from studio.agents.react_step import EpisodeRunner  # noqa: E402
from studio.llm.base import Completion, Request, cut_at_stop  # noqa: E402
from studio.recipe.schema import Recipe  # noqa: E402
from studio.tasks import draw  # noqa: E402
from studio.tools.calculator import CalculatorTool  # noqa: E402
from studio.tools.toolbox import Toolbox, open_toolbox  # noqa: E402

RECIPE = Recipe(name="bench", tools=[{"mcp": "calculator"}])


class Replay:
    """Writes back each question's recorded thoughts and actions, one step per call."""

    model = "replay"

    def __init__(self) -> None:
        from studio.paths import DATA_DIR
        from studio.trajectories.files import read_records

        self.steps: dict[str, list[str]] = {}
        for record in read_records(DATA_DIR / "arithmetic" / "trajectories.json", "alpaca"):
            parts = re.split(r"\nObservation: [^\n]*\n", record.text)
            self.steps[record.question] = [" " + p.removeprefix("Thought:").strip() for p in parts if p.strip()]

    def generate(self, requests: list[Request], stop: list[str], max_tokens: int) -> list[Completion]:
        out = []
        for r in requests:
            question = r.prompt[r.prompt.rfind("Question: ") + 10:].split("\n", 1)[0]
            done = r.prompt.count("\nObservation:") - r.prompt[:r.prompt.rfind("Question: ")].count("\nObservation:")
            out.append(Completion(cut_at_stop(self.steps[question][done], stop)[0], tokens_in=1, tokens_out=1))
        return out

    def release(self, key: str) -> None:
        pass


def run(backend, tools: Toolbox, questions, k: int) -> tuple[float, list]:
    episodes: list = []
    runner = EpisodeRunner(backend, tools, AgentSpec("react", "prompted", k=k, max_steps=5), in_flight=16)
    started = time.perf_counter()
    runner.run(questions, episodes.append)
    wall = time.perf_counter() - started
    return 60 * len(episodes) / wall, sorted((e.question_id, e.prediction, [(s.action, s.argument, s.observation)
                                                                             for s in e.steps]) for e in episodes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["replay", "model"], default="replay")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    questions = draw("arithmetic", "train", None, args.n, 0)
    flags = sorted({f for f in Path("/proc/cpuinfo").read_text().split() if f in ("avx2", "avx512_bf16", "amx_bf16")})
    with contextlib.ExitStack() as stack:
        if args.model == "replay":
            backend, k = Replay(), 0
        else:
            from studio.llm.engines import open_backend
            from studio.recipe.schema import Engine

            backend = stack.enter_context(open_backend(Engine(name="transformers"), "bundled:gemma-3-270m", None,
                                                       max_tokens=160))
            k = 3
        mcp = stack.enter_context(open_toolbox(RECIPE))
        local = Toolbox([CalculatorTool(spec) for spec in mcp.specs], "in-process", listed=True)  # the baseline
        best = {"in-process": 0.0, "mcp stdio": 0.0}
        seen = {}
        run(backend, local, questions, k)  # warm-up: first calls compile and allocate
        for _ in range(args.repeats):
            for name, tools in (("in-process", local), ("mcp stdio", mcp)):
                rate, episodes = run(backend, tools, questions, k)
                best[name] = max(best[name], rate)
                seen[name] = episodes
    same = seen["in-process"] == seen["mcp stdio"]
    calls = sum(1 for _, _, steps in seen["mcp stdio"] for s in steps if s[0] == "calculate")
    print(f"model {args.model}, {len(questions)} arithmetic episodes ({calls} calculator calls), 16 in flight, "
          f"best of {args.repeats}; CPU flags: {' '.join(flags)}")
    for name, rate in best.items():
        print(f"  {name:10} {rate:10.1f} episodes/min")
    ratio = best["mcp stdio"] / best["in-process"]
    print(f"MCP / in-process: {ratio:.3f} (MCP costs {100 * (1 - ratio):.1f}%; goal: under 10%); "
          f"same episodes: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
