"""Why an agent improved: the outcome of every episode, intervals around scores, question-by-question
comparison with an exact McNemar test, and lists paged in SQL."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict

import duckdb
import pytest

from storage import Store
from storage.migrations import MIGRATIONS
from studio.outcomes import OUTCOMES, outcome
from studio.results.insight import Side, compare, mcnemar_exact, outcome_counts
from studio.results.scores import interval, scores
from studio.trajectories.episode import Episode, Step

SEARCH = Step(action="search", argument="Paris")
FINISH = Step(action="finish", argument="x")


@pytest.mark.parametrize("kwargs, expected", [
    ({"error": "search failed: timeout"}, "tool error"),
    ({"error": "HTTP 500: boom"}, "model error"),
    ({"correct": True}, "right"),
    ({"correct": None}, "not scored"),
    ({"invalid_actions": 1}, "invalid action"),
    ({"steps": [SEARCH, Step(action="search", argument=" paris "), FINISH]}, "repeated the same call"),
    ({"steps": [SEARCH, FINISH], "finished": False}, "step limit reached"),
    ({"steps": [FINISH]}, "answered without a tool call"),
    ({"steps": [SEARCH, FINISH]}, "wrong answer after tool calls"),
])
def test_every_episode_has_one_outcome(kwargs, expected):
    args = {"steps": [SEARCH, FINISH], "finished": True, "correct": False, "invalid_actions": 0, "error": None}
    assert outcome(**(args | kwargs)) == expected
    assert expected in OUTCOMES


def test_exact_mcnemar_matches_the_binomial_test():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(2, 10) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar_exact(10, 2) == mcnemar_exact(2, 10)


def test_intervals_of_proportions_and_of_scores():
    assert interval([]) is None
    assert interval([0.0] * 20) == (0.0, pytest.approx(0.1611, abs=1e-4))  # 0 of 20 right: Wilson, not [0, 0]
    assert interval([1.0] * 20) == (pytest.approx(0.8389, abs=1e-4), 1.0)
    lo, hi = interval([1.0] * 10 + [0.0] * 90)
    assert (lo, hi) == (pytest.approx(0.0552, abs=1e-4), pytest.approx(0.1744, abs=1e-4))
    f1 = [i % 5 / 5 for i in range(100)]  # not right/wrong: the percentile bootstrap
    lo, hi = interval(f1)
    assert lo < 0.4 < hi and hi - lo < 0.2 and interval(f1) == (lo, hi)  # seeded: the same every time
    assert interval([0.5] * 30) == (0.5, 0.5)
    lo, hi = interval([i % 5 / 5 for i in range(10_000)])  # the normal interval beyond the bootstrap's size
    half = 1.96 * statistics.stdev([i % 5 / 5 for i in range(10_000)]) / 100
    assert lo == pytest.approx(0.4 - half, abs=1e-4) and hi == pytest.approx(0.4 + half, abs=1e-4)


def episodes(agent: str, right: list[bool]) -> list[Episode]:
    return [Episode(task="hotpotqa", split="eval250", question_id=f"q{i}", question=f"Q{i}?", method="react",
                    agent=agent, gold="yes", steps=[Step("t", "finish", "yes" if ok else "no")],
                    prediction="yes" if ok else "no", em=float(ok), f1=float(ok), correct=ok, finished=True)
            for i, ok in enumerate(right)]


def test_two_agents_compared_question_by_question(store):
    run = store.create_run("eval", "evaluate")
    store.add_episodes(run, episodes("prompted", [True, False, False, False, True, False]))
    store.add_episodes(run, episodes("finetuned", [True, True, True, True, False, True]))
    found = compare(store, Side(run, "finetuned"), Side(run, "prompted"))
    assert len(found.rows) == 6 and found.only_a == 4 and found.only_b == 1 and found.count(True, True) == 1
    assert found.p_value == pytest.approx(mcnemar_exact(4, 1))
    only = compare(store, Side(run, "finetuned"), Side(run, "prompted"), only="b")
    assert [r["question_id"] for r in only.shown] == ["q4"] and len(only.rows) == 6
    rows = scores(store, [run])
    fine = next(r for r in rows if r["agent"] == "finetuned")
    assert fine["em_lo"] <= fine["em"] <= fine["em_hi"] and fine["em_hi"] - fine["em_lo"] > 10
    counts = {(r["agent"], r["outcome"]): r["n"] for r in outcome_counts(store, [run])}
    assert counts == {("finetuned", "right"): 5, ("finetuned", "answered without a tool call"): 1,
                      ("prompted", "right"): 2, ("prompted", "answered without a tool call"): 4}


def test_a_page_of_episodes_is_cut_and_counted_in_sql(store):
    run = store.create_run("eval", "evaluate")
    store.add_episodes(run, episodes("prompted", [i % 3 == 0 for i in range(25)]))
    page, total = store.trajectory_page(("key", "correct", "outcome"), 10, 20, run_id=run)
    assert total == 25 and len(page) == 5 and set(page[0]) == {"key", "correct", "outcome"}
    right, total = store.trajectory_page(("key",), 100, 0, run_id=run, outcome="right")
    assert total == len(right) == 9


def test_episodes_stored_before_outcomes_get_theirs_on_open(tmp_path):
    path = tmp_path / "old.duckdb"
    db = duckdb.connect(str(path))
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for sql in MIGRATIONS[:5]:
        db.execute(sql)
    db.execute("INSERT INTO schema_version VALUES (5)")
    db.execute("INSERT INTO runs (name, stage, status) VALUES ('old', 'evaluate', 'done')")
    steps = json.dumps([asdict(SEARCH), asdict(SEARCH), asdict(FINISH)])
    db.execute("INSERT INTO trajectories (run_id, key, task, question_id, question, method, agent, text, steps, "
               "correct, finished) VALUES (1, 'k', 'hotpotqa', 'q', 'Q?', 'react', 'prompted', '', ?, false, true)",
               [steps])
    db.close()
    with Store(path) as store:
        assert store.trajectories(1)[0]["outcome"] == "repeated the same call"


def test_outcomes_stored_under_their_search_names_are_renamed_by_tool_call_on_open(tmp_path):
    """A store written when the last outcomes spoke of searching opens with the names a calculator agent fits."""
    path = tmp_path / "searching.duckdb"
    db = duckdb.connect(str(path))
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for step in MIGRATIONS[:10]:  # the schema as it stood then
        db.execute(step) if isinstance(step, str) else step(db)
    db.execute("INSERT INTO schema_version VALUES (10)")
    db.execute("INSERT INTO runs (name, stage, status) VALUES ('old', 'evaluate', 'done')")
    for key, named in enumerate(["wrong answer after searching", "answered without searching",
                                 "repeated the same search", "right"]):
        db.execute("INSERT INTO trajectories (run_id, key, task, question_id, question, method, agent, text, steps, "
                   "outcome) VALUES (1, ?, 'arithmetic', 'q', 'Q?', 'react', 'prompted', '', '[]', ?)",
                   [str(key), named])
    db.close()
    with Store(path) as store:
        assert [t["outcome"] for t in sorted(store.trajectories(1), key=lambda t: t["key"])] == [
            "wrong answer after tool calls", "answered without a tool call", "repeated the same call", "right"]


def test_dashboards_chart_intervals_and_outcomes_in_one_colour_per_agent(store):
    from studio.results.dashboards import build_dashboard
    from studio.results.figures import AGENT_COLOURS
    from studio.results.scores import format_table

    run = store.create_run("eval", "evaluate")
    store.add_episodes(run, episodes("prompted", [True, False, False, False]))
    store.add_episodes(run, episodes("finetuned", [True, True, True, False]))
    spec = build_dashboard(store, [run])
    titles = [f["layout"]["title"]["text"] for f in spec["figures"]]
    assert "What became of the episodes" in titles
    bars = spec["figures"][0]["data"]
    fine_em = next(b for b in bars if b["name"] == "finetuned EM")
    assert fine_em["marker"]["color"] == AGENT_COLOURS["finetuned"] and fine_em["error_y"]["array"][0] > 0
    outcomes = spec["figures"][titles.index("What became of the episodes")]["data"]
    assert {b["name"] for b in outcomes} == {"right", "answered without a tool call"}
    assert "EM 95%" in format_table(spec["scores"]).splitlines()[0]


def test_large_groups_get_their_interval_from_sql(store, monkeypatch):
    import studio.results.scores

    run = store.create_run("eval", "evaluate")
    right = [i % 3 == 0 for i in range(30)]
    made = episodes("prompted", right)
    for i, episode in enumerate(made):
        episode.f1 = i % 5 / 5
    store.add_episodes(run, made)
    monkeypatch.setattr(studio.results.scores, "BOOTSTRAP_MAX_N", 10)  # 30 values: past the bootstrap's size
    (row,) = scores(store, [run])
    lo, hi = studio.results.scores.wilson(10, 30)
    assert (row["em_lo"], row["em_hi"]) == (pytest.approx(100 * lo, abs=0.01), pytest.approx(100 * hi, abs=0.01))
    values = [i % 5 / 5 for i in range(30)]
    half = 1.959963984540054 * statistics.stdev(values) / 30 ** 0.5
    assert row["f1_lo"] == pytest.approx(100 * (statistics.mean(values) - half), abs=0.01)
    assert row["f1_hi"] == pytest.approx(100 * (statistics.mean(values) + half), abs=0.01)


def test_the_spread_across_training_seeds_of_a_recipe_family(store, monkeypatch):
    from studio.recipe.schema import Recipe
    from studio.results.dashboards import build_dashboard
    from studio.results.insight import seed_spread

    ids = []
    for seed, right in ((0, [True, False, False, False]), (1, [True, True, True, False])):
        recipe = Recipe.model_validate({"name": f"fam-seed{seed}", "student": {"seed": seed}})
        run = store.create_run(f"fam {seed}", "evaluate", recipe.model_dump(mode="json"), recipe.name)
        store.add_episodes(run, episodes("finetuned", right))
        store.set_run_status(run, "done")
        ids.append(run)
    unrelated = Recipe.model_validate({"name": "x", "student": {"lora": {"r": 4}}})
    other = store.create_run("other", "evaluate", unrelated.model_dump(mode="json"))
    store.add_episodes(other, episodes("finetuned", [False] * 4))
    store.set_run_status(other, "done")
    old = store.create_run("old", "evaluate", {"name": "old", "student": {"seed": 3}})  # stored before sections
    store.set_run_status(old, "done")

    def no_validation(*args, **kwargs):
        raise AssertionError("a dashboard validated a stored recipe again")

    monkeypatch.setattr(Recipe, "model_validate", no_validation)  # the stored, resolved recipe is read as it is
    assert seed_spread(store, [old]) == []
    (row,) = seed_spread(store, [ids[1]])
    assert row["seeds"] == 2 and row["em_mean"] == 50.0 and row["em_min"] == 25.0 and row["em_max"] == 75.0
    assert row["runs"] == ids and seed_spread(store, [other]) == []
    notes = build_dashboard(store, [ids[0]])["notes"]
    assert any("Across 2 training seeds" in n and "50.0 ± 35.4" in n for n in notes)
    assert any("one training seed" in n for n in build_dashboard(store, [other])["notes"])
