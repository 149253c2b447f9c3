"""Self-improvement rounds at small scale: Gemma 3 270M fine-tuned on the paper's multi-method HotpotQA set
(round 0), then rounds in which the fine-tuned student answers HotpotQA dev questions (never one of eval250)
with sampling, its right attempts join the training set, and it is trained again; every round is evaluated
on all 250 eval250 questions with the local search tool.

    python benchmarks/rounds_small.py --seed 0             # rounds 0..2, the settings that fit 2 cores
    python benchmarks/rounds_small.py --seed 1             # the second training seed
    python benchmarks/rounds_small.py --seed 0 --rounds 1  # stop after round 1 (rerun with --rounds 2 to go on)
    python benchmarks/rounds_small.py --seed 0 --questions 500 --samples 8 --init base --round-epochs 2 \\
        --teacher-weight 1 --student-weight 1              # the long settings: each round from the base model

The settings are the shipped recipe `recipes/rounds_small.yaml` (the flags' defaults are its values; a flag
changes one setting), so the benchmark and the example cannot drift apart. Everything goes through the
studio's own stages into one DuckDB file (`--db`, git-ignored): a killed or interrupted run resumes where it
stopped, and rounds already run are skipped, so on a machine that keeps its files the benchmark can be run a
round at a time (a fresh machine starts again from round 0). Each stage's
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

RECIPE = ROOT / "recipes" / "rounds_small.yaml"
# The flags that change one setting of the recipe: flag -> (section, field).
SETTINGS = {"rounds": ("rounds", "count"), "samples": ("rounds", "samples"), "temperature": ("rounds", "temperature"),
            "keep": ("rounds", "keep"), "max_per_question": ("rounds", "max_per_question"), "init": ("rounds", "init"),
            "round_epochs": ("rounds", "epochs"), "teacher_weight": ("rounds", "teacher_weight"),
            "student_weight": ("rounds", "student_weight"), "seed": ("student", "seed")}


def shipped():
    """The shipped recipe: round 0 is `fireact_small.py`'s multi-method fine-tune, evaluated on all 250 questions."""
    from studio.recipe.io import load_recipe

    return load_recipe(RECIPE)


def recipe(seed: int, args: argparse.Namespace):
    """The shipped recipe with the flags' settings, named by its seed (the name earlier databases resume by)."""
    from studio.recipe.schema import Recipe

    data = shipped().model_dump(mode="json")
    for flag, (section, name) in SETTINGS.items():
        data[section][name] = seed if flag == "seed" else getattr(args, flag)
    data["evaluation"]["sets"][0]["n"] = args.n
    data["rounds"]["questions"][0]["n"] = args.questions
    return Recipe.model_validate({**data, "name": f"rounds-small-s{seed}"})


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


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every default is the shipped recipe's value."""
    base = shipped()
    rounds = base.rounds
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=base.student.seed, help="training seed (round 0 and every round)")
    parser.add_argument("--rounds", type=int, default=rounds.count, help="rounds after round 0")
    parser.add_argument("--n", type=int, default=base.evaluation.sets[0].n,
                        help="evaluation questions (first N of eval250)")
    parser.add_argument("--questions", type=int, default=rounds.questions[0].n, help="fresh dev questions per round")
    parser.add_argument("--samples", type=int, default=rounds.samples, help="attempts per question")
    parser.add_argument("--temperature", type=float, default=rounds.temperature)
    parser.add_argument("--keep", choices=["em", "f1"], default=rounds.keep)
    parser.add_argument("--max-per-question", type=int, default=rounds.max_per_question)
    parser.add_argument("--init", choices=["base", "last"], default=rounds.init)
    parser.add_argument("--round-epochs", type=float, default=rounds.epochs, help="epochs of each round's training")
    parser.add_argument("--teacher-weight", type=float, default=rounds.teacher_weight)
    parser.add_argument("--student-weight", type=float, default=rounds.student_weight)
    parser.add_argument("--db", type=Path, default=ROOT / "artifacts" / "bench" / "rounds_small.duckdb",
                        help="DuckDB file; kept, so a later run on this machine resumes or goes on")
    return parser.parse_args(argv)


def main() -> None:
    args = arguments()

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
