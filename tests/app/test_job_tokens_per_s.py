"""An agent stage's tokens/s on the Runs tab (issue #35.9): none for a measurement too small to mean anything (a
3-question evaluation, its episodes finished together, showed 56556.4 tokens/s), the rate once enough tokens were
stored over enough seconds."""

from __future__ import annotations

import time

from studio.trajectories.episode import Episode


def stored(tokens_out: int, i: int) -> Episode:
    return Episode(task="hotpotqa", split="eval250", question_id=f"q{i}", question=f"Q{i}?", method="react",
                   agent="prompted", text="Action: finish[yes]\n", prediction="yes", tokens_out=tokens_out)


def speed_of(tmp_path, pause: float) -> float | None:
    """The job's tokens/s after an evaluate stage that stores one episode of 50 tokens, then, `pause` seconds
    later, two of 3000 each."""
    from storage import Store
    from studio.app.jobs import JobQueue
    from studio.recipe.schema import Recipe
    from studio.stages.runs import Progress

    def runner(recipe, store, stages, progress, cancel):
        run_id = store.create_run("three questions", "evaluate", None, recipe.name)
        store.add_episodes(run_id, [stored(50, 0)])
        progress(Progress("evaluate", total=3, done=1, run_id=run_id))
        time.sleep(pause)
        for i in (1, 2):
            store.add_episodes(run_id, [stored(3000, i)])
            progress(Progress("evaluate", total=3, done=1 + i, run_id=run_id))
        return {}

    with Store(tmp_path / "jobs.duckdb") as store:
        jobs = JobQueue(store, runner, make_dashboard=False)
        job_id = jobs.submit(Recipe.model_validate({"name": "speedy"}), ("evaluate",))
        snapshot = jobs.wait(job_id, 30)
        jobs.shutdown()
    assert snapshot["status"] == "done", snapshot["log"]
    return snapshot["tokens_per_s"]


def test_episodes_finished_together_show_no_tokens_per_s(tmp_path):
    assert speed_of(tmp_path, 0.0) is None


def test_enough_tokens_over_enough_seconds_show_their_rate(tmp_path, monkeypatch):
    import studio.app.jobs

    monkeypatch.setattr(studio.app.jobs, "SPEED_MIN_S", 0.3)
    speed = speed_of(tmp_path, 0.4)
    assert speed is not None and 6000 / 1.0 < speed < 6000 / 0.4
