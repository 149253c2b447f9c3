"""Self-improvement rounds at small scale: Gemma 3 270M fine-tuned on the paper's multi-method HotpotQA set
(round 0), then rounds in which the fine-tuned student answers HotpotQA dev questions (never one of eval250)
with sampling, its right attempts join the training set, and it is trained again; every round is evaluated
on all 250 eval250 questions with the local search tool.

    python benchmarks/rounds_small.py --seed 0             # rounds 0..2, the settings that fit 2 cores
    python benchmarks/rounds_small.py --seed 1             # the second training seed
    python benchmarks/rounds_small.py --seed 0 --rounds 1  # stop after round 1 (rerun with --rounds 2 to go on)
    python benchmarks/rounds_small.py --seed 0 --questions 500 --samples 8 --init base --round-epochs 2 \\
        --teacher-weight 1 --student-weight 1              # the long settings: each round from the base model

Everything goes through the studio's own stages into one DuckDB file (`--db`, git-ignored): a killed or
interrupted run resumes where it stopped, and rounds already run are skipped, so on a machine that keeps its
files the benchmark can be run a round at a time (a fresh machine starts again from round 0). Each stage's
wall time is printed beside the CPU flags that matter (AVX512-BF16 decides the training precision on a CPU,
AMX makes it fast): on 2 quiet cores a round-0 fine-tune (694 trajectories, 2 epochs, 174 steps) took 25
minutes with AMX and about an hour without, 250 evaluation episodes 7 to 10 minutes on llama.cpp.

The default round settings fit about 20 minutes a round on 2 cores: 100 fresh questions x 4 attempts at
temperature 0.7, right ones kept (at most one per question), and training that continues from the last
adapter for one epoch over a quarter of the teacher data plus the kept student attempts twice. Each later
round prints the questions it gained and lost against round 0 with the exact McNemar p.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MULTIMETHOD = "studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa_multimethod.json"


def recipe(seed: int, args: argparse.Namespace):
    """Round 0 is `fireact_small.py`'s multi-method fine-tune, evaluated on all 250 questions."""
    from studio.recipe.schema import Recipe

    return Recipe.model_validate({
        "name": f"rounds-small-s{seed}",
        "methods": ["react", "cot", "reflexion"],
        "trajectories": {"source": "import", "path": MULTIMETHOD, "task": "hotpotqa"},
        "student": {"epochs": 2, "batch_size": 8, "learning_rate": 2e-4, "seed": seed,
                    "lora": {"r": 16, "alpha": 32}, "max_seq_length": 1024},
        "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": args.n}], "agents": ["finetuned"],
                       "methods": ["react"], "few_shot_k": 3, "max_steps": 8},
        "rounds": {"count": args.rounds,
                   "questions": [{"task": "hotpotqa", "split": "dev", "n": args.questions, "seed": 0}],
                   "methods": ["react"], "samples": args.samples, "temperature": args.temperature,
                   "keep": args.keep, "max_per_question": args.max_per_question, "init": args.init,
                   "epochs": args.round_epochs, "teacher_weight": args.teacher_weight,
                   "student_weight": args.student_weight},
    })


def cpu_flags() -> str:
    try:
        flags = {f for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
                 for f in line.split(":", 1)[1].split()}
    except OSError:
        return "unknown CPU"
    import os

    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{os.cpu_count()} cores, {' '.join(shown) or 'no AVX2'}"


def stage_times(table: list[dict]) -> list[str]:
    """The wall time of each run in the rounds table: the runs of these settings only, not of other flags."""
    lines = []
    for row in table:
        for stage in ("explore", "train", "evaluate"):
            run = row[stage]
            if run is None or run["started_at"] is None:
                continue
            took = (run["finished_at"] - run["started_at"]).total_seconds() if run["finished_at"] else None
            lines.append(f"round {row['round']} {stage} (run {run['id']}, {run['status']}): "
                         + (f"{took / 60:.1f} min (last attempt)" if took is not None and took >= 0 else "-"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="training seed (round 0 and every round)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds after round 0")
    parser.add_argument("--n", type=int, default=250, help="evaluation questions (first N of eval250)")
    parser.add_argument("--questions", type=int, default=100, help="fresh dev questions per round")
    parser.add_argument("--samples", type=int, default=4, help="attempts per question")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--keep", choices=["em", "f1"], default="em")
    parser.add_argument("--max-per-question", type=int, default=1)
    parser.add_argument("--init", choices=["base", "last"], default="last")
    parser.add_argument("--round-epochs", type=float, default=1.0, help="epochs of each round's training")
    parser.add_argument("--teacher-weight", type=float, default=0.25)
    parser.add_argument("--student-weight", type=float, default=2.0)
    parser.add_argument("--db", type=Path, default=ROOT / "artifacts" / "bench" / "rounds_small.duckdb",
                        help="DuckDB file; kept, so a later run on this machine resumes or goes on")
    args = parser.parse_args()

    from storage import Store
    from studio.cli.main import progress_bars
    from studio.results.rounds_table import format_rounds, round_table
    from studio.stages.pipeline import run_recipe

    args.db.parent.mkdir(parents=True, exist_ok=True)
    r = recipe(args.seed, args)
    with Store(args.db) as store:
        with progress_bars() as progress:
            run_recipe(r, store, progress=progress)
        print(f"\n{r.name}: HotpotQA eval250 (first {args.n}), Gemma 3 270M, local BM25, llama.cpp, greedy evaluation")
        table = round_table(store, r)
        print(format_rounds(table))
        print(f"\nstage times ({cpu_flags()}):")
        print("\n".join(stage_times(table)))


if __name__ == "__main__":
    main()
