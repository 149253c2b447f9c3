"""`react` vs `tools` on the same trajectories: each pair of recipes (the same data, training and evaluation, one
in each format) runs end to end on one fresh store, then one table per pair (and, per agent, the second recipe's
tokens per episode and episodes per minute as ratios of the first's): per format and agent, exact match with
its 95% Wilson interval, the valid-call rate (calls the tool accepted, of every call and action an agent wrote:
a `react` action naming no tool counts, retried or not), tokens per episode, and episodes per minute of model time.

    .venv/bin/python benchmarks/formats.py [--db /tmp/formats.duckdb] \\
        recipes/calculator.yaml:recipes/calculator_tools.yaml recipes/quickstart.yaml:recipes/quickstart_tools.yaml

Runs one stage at a time (never two CPU-heavy jobs at once); print the CPU flags beside the figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import Store  # noqa: E402
from studio.recipe.io import load_recipe  # noqa: E402
from studio.results.scores import wilson  # noqa: E402

CALLS = """
SELECT t.agent, count(*) AS n, avg(t.em) AS em, count(*) FILTER (WHERE t.correct) AS right,
       avg(t.tokens_in + t.tokens_out) AS tokens, sum(t.compute_s) AS compute_s,
       sum(len(list_filter(CAST(t.steps AS JSON[]), lambda s: s->>'action' != 'finish' AND (s->>'action' != 'invalid'
                                                          OR s->>'status' = 'invalid call')))) AS calls,
       sum(len(list_filter(CAST(t.steps AS JSON[]), lambda s: s->>'action' NOT IN ('finish', 'invalid')
                                                          AND coalesce(s->>'status', '') = ''))) AS valid,
       sum(t.invalid_actions) AS invalid_actions
FROM trajectories t JOIN runs r ON r.id = t.run_id
WHERE r.recipe_name = ? AND r.stage = 'evaluate' AND r.round = 0
GROUP BY t.agent ORDER BY t.agent DESC
"""


def cpu_flags() -> str:
    flags = Path("/proc/cpuinfo").read_text().split("flags\t\t: ", 1)[1].split("\n", 1)[0].split()
    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags)


def run(recipe: str, db: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "launch.py"), "--db", db, "run", recipe], check=True)
    return time.perf_counter() - started


def rows(store: Store, name: str) -> list[dict]:
    return store.query(CALLS, [name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", help="REACT_RECIPE:TOOLS_RECIPE")
    parser.add_argument("--db", default="/tmp/formats.duckdb")
    args = parser.parse_args()
    print(f"CPU flags: {cpu_flags()}")
    for pair in args.pairs:
        paths = pair.split(":")
        walls = {path: run(path, args.db) for path in paths}
        report(args.db, paths, walls)


def report(db: str, paths: list[str], walls: dict[str, float]) -> None:
    """The pair's table, then the second recipe's tokens per episode and episodes per minute as ratios of the first's
    (same agent, same run of this script)."""
    print(f"\n### {' vs '.join(paths)}\n")
    print("| format | agent | EM | 95% interval | n | valid calls | tokens/episode | episodes/min | run min |")
    print("|---|---|---|---|---|---|---|---|---|")
    found: dict[str, dict[str, dict]] = {}
    with Store(db) as store:
        for path in paths:
            recipe = load_recipe(path)
            for r in rows(store, recipe.name):
                low, high = wilson(r["right"], r["n"])
                writes = r["calls"] + r["invalid_actions"]
                valid = f"{r['valid']}/{writes} ({100 * r['valid'] / writes:.0f}%)" if writes else "none"
                r["per_min"] = 60 * r["n"] / r["compute_s"]
                found.setdefault(path, {})[r["agent"]] = r
                print(f"| {recipe.format} | {r['agent']} | {100 * r['em']:.1f} | {100 * low:.1f}-{100 * high:.1f} "
                      f"| {r['n']} | {valid} | {r['tokens']:.0f} | {r['per_min']:.1f} | {walls[path] / 60:.1f} |")
    base, other = (found.get(p, {}) for p in paths)
    for agent in [a for a in base if a in other]:
        tokens, speed = (other[agent][k] / base[agent][k] for k in ("tokens", "per_min"))
        print(f"{paths[1]} / {paths[0]}, {agent}: tokens/episode x{tokens:.2f}, episodes/min x{speed:.2f}")

if __name__ == "__main__":
    main()
