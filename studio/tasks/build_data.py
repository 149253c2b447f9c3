"""Rebuild the task data the studio ships (`studio/tasks/data/`) from the shared public datasets.

Usage: ``python -m studio.tasks.build_data SHARED_DATASETS_DIR [--out DIR]``

SHARED_DATASETS_DIR is the folder holding `fireact/`, `hotpotqa_eval250.json` and `search_corpus.jsonl`.
The output is deterministic: running it twice on the same input gives byte-identical files.
`ATTRIBUTION.md` is written by hand and left alone.

What it writes (one compact JSON object per line, UTF-8, in source order):
  hotpotqa/dev.jsonl        {id, question, answer, type}; id = "hotpotqa-dev-<index in dev.json>"
  hotpotqa/eval250.jsonl    {id, question, answer, type}; checked against dev.jsonl
  bamboogle/test.jsonl      {question, answer}
  strategyqa/{dev,train}.jsonl  {qid, question, answer: "yes"|"no"} (train from strategyqa_train_filtered.json)
  mmlu/{dev,val}.jsonl      {subject, question, choices: [A, B, C, D], answer: letter}; subjects sorted by name
  fireact/LICENSE, fireact/finetune/alpaca_format/*.json, search_corpus.jsonl   copied unchanged
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from studio.paths import DATA_DIR

FINETUNE_FILES = ("hotpotqa.json", "hotpotqa_multimethod.json", "multitask.json", "multitask_multimethod.json")
MMLU_SPLITS = ("dev", "val")


def _write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _hotpotqa(fireact: Path, shared: Path, out: Path) -> dict[str, int]:
    dev = json.loads((fireact / "hotpotqa" / "dev.json").read_text(encoding="utf-8"))
    dev_rows = [
        {"id": f"hotpotqa-dev-{i}", "question": r["question"], "answer": r["answer"], "type": r.get("type")}
        for i, r in enumerate(dev)
    ]
    eval_rows = json.loads((shared / "hotpotqa_eval250.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in dev_rows}
    for r in eval_rows:
        d = by_id.get(r["id"])
        if d is None or (d["question"], d["answer"]) != (r["question"], r["answer"]):
            raise SystemExit(f"hotpotqa_eval250.json: {r['id']} does not match dev.json at that index")
    eval_rows = [
        {"id": r["id"], "question": r["question"], "answer": r["answer"], "type": r.get("type")} for r in eval_rows
    ]
    return {
        "hotpotqa/dev": _write_jsonl(out / "hotpotqa" / "dev.jsonl", dev_rows),
        "hotpotqa/eval250": _write_jsonl(out / "hotpotqa" / "eval250.jsonl", eval_rows),
    }


def _bamboogle(fireact: Path, out: Path) -> dict[str, int]:
    with (fireact / "bamboogle" / "test.csv").open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        rows = [{"question": r["Question"], "answer": r["Answer"]} for r in reader]
    return {"bamboogle/test": _write_jsonl(out / "bamboogle" / "test.jsonl", rows)}


def _strategyqa(fireact: Path, out: Path) -> dict[str, int]:
    counts = {}
    for split, name in (("dev", "strategyqa_dev.json"), ("train", "strategyqa_train_filtered.json")):
        data = json.loads((fireact / "strategyqa" / name).read_text(encoding="utf-8"))
        rows = [
            {"qid": str(r["qid"]), "question": r["question"], "answer": "yes" if r["answer"] else "no"} for r in data
        ]
        counts[f"strategyqa/{split}"] = _write_jsonl(out / "strategyqa" / f"{split}.jsonl", rows)
    return counts


def _mmlu(fireact: Path, out: Path) -> dict[str, int]:
    counts = {}
    for split in MMLU_SPLITS:
        rows = []
        suffix = f"_{split}.csv"
        for path in sorted((fireact / "mmlu" / split).glob(f"*{suffix}")):
            subject = path.name[: -len(suffix)]
            with path.open(encoding="utf-8", newline="") as f:
                for rec in csv.reader(f):
                    if len(rec) != 6:
                        raise SystemExit(f"{path}: expected 6 fields, got {len(rec)}")
                    rows.append({"subject": subject, "question": rec[0], "choices": rec[1:5], "answer": rec[5]})
        counts[f"mmlu/{split}"] = _write_jsonl(out / "mmlu" / f"{split}.jsonl", rows)
    return counts


def build(shared: Path, out: Path = DATA_DIR) -> dict[str, int]:
    """Convert and copy everything; return the row count of each converted split."""
    shared = Path(shared)
    fireact = shared / "fireact" / "data"
    if not fireact.is_dir():
        raise SystemExit(f"{shared}: no fireact/data folder here; pass the shared datasets folder")
    counts: dict[str, int] = {}
    counts.update(_hotpotqa(fireact, shared, out))
    counts.update(_bamboogle(fireact, out))
    counts.update(_strategyqa(fireact, out))
    counts.update(_mmlu(fireact, out))
    _copy(shared / "fireact" / "LICENSE", out / "fireact" / "LICENSE")
    for name in FINETUNE_FILES:
        _copy(fireact / "finetune" / "alpaca_format" / name, out / "fireact" / "finetune" / "alpaca_format" / name)
    _copy(shared / "search_corpus.jsonl", out / "search_corpus.jsonl")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.tasks.build_data", description=__doc__.split("\n")[0])
    parser.add_argument("shared", type=Path, help="the shared datasets folder (holds fireact/)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output folder (default {DATA_DIR})")
    args = parser.parse_args(argv)
    counts = build(args.shared, args.out)
    for name, n in counts.items():
        print(f"{name}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
