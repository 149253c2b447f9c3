"""Every view and figure of the studio against a store of a million episodes: each must answer in 0.5 s.

Fills a DuckDB file with synthetic episodes (20 evaluate runs of 50,000: each question answered by two
agents; three tasks, two methods, every outcome; steps and text of a realistic size), then times, best of 3,
what a page does: the runs table, a run's detail, the filter choices, a page of the Trajectories list (with
filters, and deep in the list), one episode's timeline, a two-agent comparison, the dashboard of one run (all
its figures) and the scores table. The baseline, timed in the same run: the list as it was read before paging
in SQL (every matching episode loaded and decoded, then cut to 500).

    .venv/bin/python benchmarks/views_at_scale.py [--episodes 1000000] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import Store
from studio.outcomes import OUTCOMES

RUN_SIZE = 50_000
BUDGET_S = 0.5
STEPS = json.dumps([{"thought": "I need to find out who directed the film first.", "action": "search",
                     "argument": "film director", "observation": "The film was directed by someone. " * 6},
                    {"thought": "So the answer is this.", "action": "finish", "argument": "someone",
                     "observation": "Episode finished, reward = False"}])
TEXT = "Thought: I need to search.\nAction: search[film director]\nObservation: " + "words " * 120


def fill(store: Store, episodes: int) -> list[int]:
    """Synthetic evaluate runs written straight through DuckDB (the studio's own insert path is per episode)."""
    runs = []
    for start in range(0, episodes, RUN_SIZE):
        n = min(RUN_SIZE, episodes - start)
        run = store.create_run(f"synthetic {start // RUN_SIZE}", "evaluate", {"name": "synthetic"}, "synthetic")
        store.set_run_status(run, "done")
        store.db.execute(f"""
            INSERT INTO trajectories (run_id, key, task, split, question_id, question, gold, method, model, agent,
                tool, noise, text, steps, prediction, em, f1, correct, finished, n_steps, invalid_actions,
                tokens_in, tokens_out, cost, latency_s, compute_s, error, outcome)
            SELECT {run}, 'k' || i, ['hotpotqa', 'strategyqa', 'mmlu'][1 + (i // 2) % 3], 'dev', 'q' || (i // 2),
                'Which film came first, the one or the other? #' || (i // 2), 'gold ' || (i // 2),
                ['react', 'cot'][1 + (i // 6) % 2], 'gemma', ['prompted', 'finetuned'][1 + i % 2], 'local', 0,
                ?, ?, 'someone', (i % 7 = 0)::DOUBLE, (i % 5) / 5.0, i % 7 = 0, i % 11 <> 0, 1 + i % 5, 0,
                500 + i % 300, 60 + i % 50, 0.0, 1.5, 0.3, NULL,
                ?[1 + i % {len(OUTCOMES)}]
            FROM range({n}) t(i)""", [TEXT, STEPS, list(OUTCOMES)])
        runs.append(run)
    return runs


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="reuse or keep this file (default: a temporary one)")
    args = parser.parse_args()
    os.environ.setdefault("STUDIO_RUNS", tempfile.mkdtemp(prefix="views-"))
    db = args.db or Path(tempfile.mkdtemp(prefix="views-")) / "million.duckdb"
    flags = set(Path("/proc/cpuinfo").read_text().split())
    print(f"CPU: {os.cpu_count()} cores, {', '.join(f for f in ('avx2', 'avx512f', 'avx512_bf16') if f in flags)}")

    from studio.app.jobs import JobQueue
    from studio.app.views.runs import run_detail, runs_rows
    from studio.app.views.state import Studio
    from studio.app.views.trajectories import compare_sides, episode, find_trajectories, trajectory_options
    from studio.results.dashboards import build_dashboard
    from studio.results.scores import scores

    with Store(db) as store:
        have = store.trajectory_page(("key",), 0)[1]
        if have < args.episodes:
            started = time.perf_counter()
            fill(store, args.episodes - have)
            print(f"filled {args.episodes - have} episodes in {time.perf_counter() - started:.0f} s")
        runs = [r["id"] for r in store.list_runs()]
        studio = Studio(store, Path(tempfile.mkdtemp()), JobQueue(store, make_dashboard=False))
        last = runs[-1]
        key = store.trajectory_page(("key",), 1, run_id=last)[0][0]["key"]
        pairs = len(compare_sides(studio, f"{last}|finetuned", f"{last}|prompted", None).rows)
        views = {
            "runs table": lambda: runs_rows(studio),
            "run detail": lambda: run_detail(studio, last),
            "filter choices": lambda: trajectory_options(studio),
            "trajectory list, no filter": lambda: find_trajectories(studio),
            "trajectory list, run + agent + wrong": lambda: find_trajectories(studio, last, agent="finetuned",
                                                                              correct=False),
            "trajectory list, outcome, page 50": lambda: find_trajectories(studio, outcome="step limit reached",
                                                                           page=50),
            "episode timeline": lambda: episode(studio, last, key),
            "compare two agents (one run)": lambda: compare_sides(studio, f"{last}|finetuned", f"{last}|prompted",
                                                                  "a"),
            "dashboard of one run (all figures)": lambda: build_dashboard(store, [last]),
            "scores of every run": lambda: scores(store, runs),
        }
        total = store.trajectory_page(("key",), 0)[1]
        print(f"{total} episodes in {len(runs)} runs ({pairs} questions both agents of a run answered); "
              f"budget {BUDGET_S} s per view\n")
        worst = 0.0
        for name, view in views.items():
            seconds = best_of(view)
            worst = max(worst, seconds)
            print(f"{name:<40} {seconds:7.3f} s  {'ok' if seconds <= BUDGET_S else 'OVER BUDGET'}")

        def before() -> None:  # the list as the studio read it before paging in SQL
            rows = store.trajectories(None, agent="finetuned")
            rows[:500]

        baseline = best_of(before, repeats=1)
        paged = best_of(lambda: find_trajectories(studio, agent="finetuned"))
        print(f"\ntrajectory list (agent filter): {baseline:.2f} s loading every match before, {paged:.3f} s paged: "
              f"{baseline / paged:.0f}x faster; slowest view {worst:.3f} s")


if __name__ == "__main__":
    main()
