"""The rounds of a recipe as a table: per round its runs, what the student explored and kept, the training set
and the fine-tuned agent's EM with its change against round 0, for the studio, the dashboard and the CLI."""

from __future__ import annotations

from typing import Any

from storage import Store
from studio.recipe.fingerprint import fingerprint
from studio.recipe.schema import Recipe
from studio.results.insight import Side, compare
from studio.results.scores import scores
from studio.trajectories.selection import KEPT_COLUMNS, kept


def _found(store: Store, recipe: Recipe, stage: str, round: int) -> dict[str, Any] | None:
    return store.find_run(recipe.name, stage, fingerprint(recipe, stage, round))


def candidates(store: Store, run_id: int, recipe: Recipe) -> list[dict[str, Any]]:
    """The explore run's attempts that the keep rule may take (finished, right by EM or F1), with only the
    columns it reads: a round of hundreds of attempts is counted in SQL, not loaded."""
    return store.right_attempts(run_id, KEPT_COLUMNS, recipe.rounds.f1_threshold)


def round_table(store: Store, recipe: Recipe) -> list[dict[str, Any]]:
    """One row per round (0 to `rounds.count`) of the recipe as it is now: its runs and their status, what the
    student explored and kept, the training set (teacher and student examples) and the fine-tuned agent's EM
    with its 95% interval on each evaluation task and method; a later round also the questions it got right
    that round 0 did not and the reverse (`vs_round0`, with the exact McNemar p: is the change more than chance?)."""
    table = []
    for r in range(recipe.rounds.count + 1):
        row: dict[str, Any] = {"round": r, "explore": None, "train": None, "evaluate": None, "attempts": 0,
                               "right": 0, "kept": 0, "teacher_examples": None, "student_examples": None, "scores": [],
                               "vs_round0": None}
        explored = _found(store, recipe, "explore", r) if r else None
        if explored is not None:
            counts = store.run_totals(explored["id"])
            row.update(explore=explored, attempts=counts["episodes"], right=counts["right"],
                       kept=len(kept(candidates(store, explored["id"], recipe), recipe.rounds)))
        trained = _found(store, recipe, "train", r)
        if trained is not None:
            summary = trained["summary"] or {}
            row.update(train=trained, teacher_examples=summary.get("teacher_examples", summary.get("examples")),
                       student_examples=summary.get("student_examples", 0))
        scored = _found(store, recipe, "evaluate", r)
        if scored is not None:
            row.update(evaluate=scored, scores=[s for s in scores(store, [scored["id"]])
                                                if s["agent"] == "finetuned" and not s["noise"]])
            first = table[0]["evaluate"] if r else None
            if first is not None:
                paired = compare(store, Side(first["id"], "finetuned"), Side(scored["id"], "finetuned"), limit=0)
                row["vs_round0"] = {"gained": paired.only_b, "lost": paired.only_a, "p": paired.p_value}
        table.append(row)
    return table


def student_share(row: dict[str, Any]) -> float | None:
    """The share (%) of a round's training examples the student wrote."""
    teacher, student = row["teacher_examples"], row["student_examples"]
    return 100 * student / (teacher + student) if teacher is not None and teacher + student else None


def training_text(row: dict[str, Any]) -> str | None:
    """A round's training set in words: "120 teacher + 30 student examples (20% student)"."""
    if row["teacher_examples"] is None:
        return None
    if not row["round"]:
        return f"{row['teacher_examples']} teacher examples"
    share = student_share(row)
    return (f"{row['teacher_examples']} teacher + {row['student_examples']} student examples"
            + (f" ({share:.0f}% student)" if share else ""))


def change_text(row: dict[str, Any]) -> str | None:
    """A round's change against round 0 in words: "16 gained, 11 lost (exact McNemar p 0.44)"."""
    change = row["vs_round0"]
    if change is None:
        return None
    return f"{change['gained']} gained, {change['lost']} lost (exact McNemar p {change['p']:.2f})"


def format_rounds(table: list[dict[str, Any]]) -> str:
    """The rounds as text lines (the CLI and the benchmark print them)."""
    lines = []
    for row in table:
        data = training_text(row) or "not trained"
        explored = f"{row['right']}/{row['attempts']} attempts right, {row['kept']} kept; " if row["round"] else ""
        scores = ", ".join(f"{s['task']}/{s['method']} EM {s['em']:.1f} [{s['em_lo']:.1f}, {s['em_hi']:.1f}] "
                           f"(n={s['questions']})" for s in row["scores"]) or "not evaluated"
        change = f"; against round 0: {change_text(row)}" if row["vs_round0"] else ""
        lines.append(f"round {row['round']}: {explored}{data}; {scores}{change}")
    return "\n".join(lines)
