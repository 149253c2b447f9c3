"""The studio's events through gradio_client against the app served in this process, over a test store."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from studio.paths import DATA_DIR
from tests.support.http import get, visible_text
from tests.support.processes import processes_with
from tests.support.seeds import seed_store

BAD_YAML = "name: demo\ntasks:\n  - task: hotpotqa\n    n: 3\n  - task: mmlu\n    n: 0\nstudent: {lr: 1}\n"


def test_the_rounds_of_a_recipe_show_as_one_timeline(served):
    timeline, figure = served["client"].predict("climb", api_name="/show_rounds")
    assert timeline.count("class='round-card'") == 3
    assert "round 0 · the recipe's own fine-tune" in timeline
    assert "1 of 4 attempts right, 1 kept" in timeline and "4 teacher + 1 student examples (20% student)" in timeline
    assert "hotpotqa/react EM <b>50.0</b>" in timeline and "not run yet" in timeline
    assert "<b>against round 0</b> 1 gained, 0 lost (exact McNemar p 1.00)" in timeline
    assert figure is not None
    none, no_figure = served["client"].predict("", api_name="/show_rounds")
    assert "Pick a recipe" in none and no_figure["visible"] is False
    missing, _ = served["client"].predict("no-such", api_name="/show_rounds")
    assert "no recipe named no-such: save it" in missing and "not valid" not in missing


def test_validate_recipe_reports_field_and_line(served):
    client = served["client"]
    problems, *_fields = client.predict(BAD_YAML, api_name="/validate_recipe")
    assert "tasks[1].n: must be &gt; 0 (line 6)" in problems
    assert "student.lr: is not a recipe field (line 7)" in problems
    ok, *_ = client.predict("name: fine\n", api_name="/validate_recipe")
    assert "valid recipe" in ok


def test_yaml_to_form_and_back(served):
    from studio.app.schema_form import form_fields

    client = served["client"]
    paths = [s.path for s in form_fields()]
    problems, *updates = client.predict("name: demo\nteacher: {max_tokens: 0}\nstudent: {max_steps: 7}\n",
                                        api_name="/yaml_to_form")
    values = [u.get("value") for u in updates[: len(paths)]]
    flagged = {p: u for p, u in zip(paths, updates, strict=False) if "field-error" in u.get("elem_classes", [])}
    assert set(flagged) == {"teacher.max_tokens"} and flagged["teacher.max_tokens"]["info"].startswith("⚠ must be > 0")
    assert "teacher.max_tokens: must be &gt; 0 (line 2)" in problems
    assert values[paths.index("name")] == "demo" and values[paths.index("student.max_steps")] == 7
    assert values[paths.index("teacher.max_tokens")] == 0
    values[paths.index("teacher.max_tokens")] = 64
    values[paths.index("student.lora.r")] = 4
    shown = "# kept\nname: demo\nteacher: {max_tokens: 0}\nstudent: {max_steps: 7}\n"
    text, problems, *_ = client.predict(*values[: len(paths)], shown, api_name="/form_to_yaml")
    assert text.strip() == "# kept\nname: demo\nteacher: {max_tokens: 64}\nstudent: {max_steps: 7, lora: {r: 4}}"
    assert "valid recipe" in problems
    same, *_ = client.predict(*values[: len(paths)], text, api_name="/form_to_yaml")
    assert same == {"__type__": "update"}  # left alone: the form says what the editor says


def test_save_recipe_writes_the_configured_folder_and_the_store(served):
    client, store, tmp = served["client"], served["store"], served["tmp"]
    status, problems, *_ = client.predict("name: saved-one\ndescription: from the API test\n",
                                          api_name="/save_recipe")
    assert "saved" in status and "saved-one" in status
    assert (tmp / "recipes" / "saved-one.yaml").read_text().startswith("name: saved-one")
    assert "saved-one" in store.list_recipes()
    status, problems, *_ = client.predict(BAD_YAML, api_name="/save_recipe")
    assert "not saved" in status and "tasks[1].n" in problems
    assert not (tmp / "recipes" / "demo.yaml").exists()
    text, status, *_ = client.predict("saved-one", "", api_name="/clone_recipe")
    assert text.startswith("name: saved-one-copy") and "from the API test" in text


def test_estimate_before_start(served):
    client, tmp = served["client"], served["tmp"]
    recipe = (f"name: to-estimate\ntrajectories: {{source: import, path: {tmp / 'four.json'}, task: hotpotqa}}\n"
              "student: {max_steps: 3, batch_size: 2}\nevaluation: {sets: [{task: hotpotqa, split: eval250, n: 4}]}\n")
    status, *_ = client.predict(recipe, api_name="/save_recipe")
    assert "saved" in status
    shown = client.predict("to-estimate", api_name="/estimate")
    assert "**Estimate for to-estimate**" in shown and "| train | optimizer steps | 3 |" in shown
    assert "| evaluate | episodes | 8 |" in shown  # 4 questions x 2 agents x 1 method
    assert client.predict("", api_name="/estimate").startswith("⚠ pick a recipe")


def test_list_and_open_runs(served):
    client, ids = served["client"], served["ids"]
    table, _run_choices, _recipes = client.predict(api_name="/list_runs")
    listed = {row[0]: row for row in table["data"]}
    assert {ids["import"], ids["train"], ids["evaluate"]} <= set(listed)
    assert listed[ids["import"]][2] == "import" and listed[ids["import"]][4] == 4
    info, _loss = client.predict(ids["train"], api_name="/open_run")
    assert f"Run {ids['train']}" in info and "4 training steps" in info


def test_filter_trajectories(served):
    client, ids = served["client"], served["ids"]
    count, table = client.predict("", "", "", "", "any", "", 1, api_name="/filter_trajectories")
    assert count.startswith("20 episode")  # 4 imported, 4 evaluated, 12 of the rounds
    count, table = client.predict(str(ids["evaluate"]), "hotpotqa", "react", "finetuned", "correct", "", 1,
                                  api_name="/filter_trajectories")
    assert count.startswith("2 episode") and {row[1] for row in table["data"]} == {"finetuned"}  # run, agent, ...
    count, table = client.predict(str(ids["evaluate"]), "", "", "prompted", "wrong", "", 1,
                                  api_name="/filter_trajectories")
    assert count.startswith("2 episode")
    assert any("<script>" in str(cell) for cell in table["data"][0])  # raw text: the browser shows it as text
    count, table = client.predict(str(ids["evaluate"]), "", "", "", "any", "right", 1, True,
                                  api_name="/filter_trajectories")  # more columns: the outcome is the 6th
    assert count.startswith("2 episode") and {row[5] for row in table["data"]} == {"right"}
    count, table = client.predict("", "", "", "", "any", "", 2, api_name="/filter_trajectories")
    assert count.startswith("20 episode") and "no page 2" in count and len(table["data"]) == 20  # one page only


def test_an_episode_reads_as_escaped_cards(served):
    client, ids = served["client"], served["ids"]
    key = next(r["key"] for r in served["store"].trajectories(ids["evaluate"], agent="prompted", question_id="q0"))
    meta, timeline, text = client.predict(ids["evaluate"], key, api_name="/open_episode")
    assert "answered without a tool call" not in meta and "wrong answer after tool calls" in meta
    assert "<script>" not in timeline and "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in timeline
    assert timeline.count("step-card") == 2 and "✗ wrong" in timeline and text.startswith("Thought: try <script>")


def test_compare_two_agents_through_the_api(served):
    client, ids = served["client"], served["ids"]
    run = ids["evaluate"]
    summary, table = client.predict(f"{run}|finetuned", f"{run}|prompted", "every paired question",
                                    api_name="/compare")
    assert "2 paired questions" in summary and "only A (run" in summary and "p = 0.5" in summary
    assert len(table["data"]) == 2 and {row[5] for row in table["data"]} == {True}
    summary, table = client.predict(f"{run}|finetuned", f"{run}|prompted", "only B right", api_name="/compare")
    assert "2 paired questions" in summary and table["data"] in ([], [[""] * 8], [[None] * 8])
    summary, _ = client.predict("typed", f"{run}|prompted", "every paired question", api_name="/compare")
    assert summary == "⚠ pick A and B from their lists"


def test_dashboard_share_route(served):
    client, ids, url = served["client"], served["ids"], served["url"]
    status, body, headers = get(f"{url}/dashboards/{ids['dashboard']}")
    assert status == 200 and '"data"' in body and "Plotly.newPlot" in body
    assert "demo &lt;b&gt;dashboard&lt;/b&gt;" in body and "<script>window.__pwned" not in body
    assert "default-src 'none'" in headers["content-security-policy"]
    status, body, headers = get(f"{url}/dashboards/{ids['dashboard']}.html")
    assert status == 200 and "attachment" in headers["content-disposition"] and "Plotly.newPlot" in body
    assert get(f"{url}/dashboards/nope")[0] == 404
    assert get(f"{url}/dashboards/nope.html")[0] == 404
    link, download, saved, _scores, *_plots = client.predict([str(ids["evaluate"])], "shared",
                                                             api_name="/share_dashboard")
    new_id = link.split("snapshot `")[1].split("`")[0]
    status, body, _ = get(f"{url}/dashboards/{new_id}")
    assert status == 200 and "<title>shared" in body
    assert Path(download["value"]).read_text().startswith("<!DOCTYPE html>")
    assert any(row[0] == new_id for row in saved["data"])


def test_the_studio_points_to_the_comparison_the_share_page_cannot(served):
    """The Dashboards tab's preview names the Trajectories tab's exact test; the share page of the same runs does
    not (its reader has no studio)."""
    note, *_ = served["client"].predict([str(served["ids"]["evaluate"])], "", api_name="/preview_dashboard")
    assert "in the Trajectories tab" in note
    _, page, _ = get(f"{served['url']}/dashboards/{served['ids']['dashboard']}")
    assert "Trajectories tab" not in visible_text(page)


def test_jobs_queue_one_at_a_time_and_cancel(served):
    from studio.recipe.schema import Recipe

    studio, runner = served["studio"], served["runner"]
    gate = threading.Event()
    runner.gate = gate
    try:
        first = studio.jobs.submit(Recipe(name="first"), ("generate", "train"))
        second = studio.jobs.submit(Recipe(name="second"), ("evaluate",))
        assert studio.jobs.get(second)["status"] == "queued"
        gate.set()
        assert studio.jobs.wait(first, 30)["status"] == "done"
        assert studio.jobs.wait(second, 30)["status"] == "done"
        snap = studio.jobs.get(first)
        assert snap["progress"]["train"]["done"] == 3 and [p[0] for p in snap["loss"]] == [1, 2, 3]
        assert set(snap["run_ids"]) == {"generate", "train"} and any("generate: 3/3" in line for line in snap["log"])
        calls = [c for c in runner.calls if c[0] in ("first", "second")]
        assert calls == [("first", "generate"), ("first", "train"), ("second", "evaluate")]
        gate.clear()
        running_job = studio.jobs.submit(Recipe(name="slow"), ("generate",))
        queued_job = studio.jobs.submit(Recipe(name="never"), ("generate",))
        assert studio.jobs.cancel(queued_job) and studio.jobs.get(queued_job)["status"] == "cancelled"
        assert studio.jobs.cancel(running_job)
        gate.set()
        assert studio.jobs.wait(running_job, 30)["status"] == "cancelled"
        assert ("never", "generate") not in runner.calls
    finally:
        runner.gate = None
        gate.set()


def test_start_poll_and_cancel_through_the_api(served):
    client, studio, tmp = served["client"], served["studio"], served["tmp"]
    (tmp / "recipes").mkdir(exist_ok=True)
    (tmp / "recipes" / "api-job.yaml").write_text("name: api-job\n")
    message, _job = client.predict("api-job", "all", api_name="/start_job")
    job_id = int(message.split()[1])
    assert studio.jobs.wait(job_id, 30)["status"] == "done"
    progress, log, *_ = client.predict(job_id, None, api_name="/poll_job")
    assert f"Job {job_id}" in progress and "**done**" in progress and "evaluate: 3/3" in log
    message, _ = client.predict("no-such-recipe", "all", api_name="/start_job")
    assert "not valid" in message or "no recipe" in message
    assert "not running" in client.predict(job_id, api_name="/cancel_job")


def test_auth_protects_the_ui_but_not_dashboards(tmp_path):
    from storage import Store
    from studio.app.server import create_app, parse_auth, running

    with Store(tmp_path / "auth.duckdb") as store:
        ids = seed_store(store, tmp_path)
        app = create_app(store, auth=parse_auth("alice:secret"), recipes_dir=tmp_path / "recipes")
        with running(app) as url:
            assert get(f"{url}/dashboards/{ids['dashboard']}")[0] == 200
            status, body, _ = get(f"{url}/config")
            assert status == 401 or '"auth_required":true' in body.replace(" ", "")
    with pytest.raises(ValueError):
        parse_auth("nopassword")


def test_cancel_kills_the_training_worker(tmp_path, monkeypatch):
    """A real job: import, then training in its worker process; cancel kills that process and stores the run
    as cancelled (resumable)."""
    from storage import Store
    from studio.app.jobs import JobQueue
    from studio.recipe.schema import Recipe
    from studio.stages.train import run_dir_for

    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    records = json.loads((DATA_DIR / "fireact/finetune/alpaca_format/hotpotqa.json").read_text())[:4]
    (tmp_path / "four.json").write_text(json.dumps(records))
    recipe = Recipe.model_validate({
        "name": "cancel-me", "data": {"correct_only": False},
        "trajectories": {"source": "import", "path": str(tmp_path / "four.json"), "task": "hotpotqa"},
        "student": {"max_steps": 500, "max_seq_length": 128, "batch_size": 1, "checkpoint_every": 1000},
    })
    with Store(tmp_path / "jobs.duckdb") as store:
        jobs = JobQueue(store)
        job_id = jobs.submit(recipe, ("generate", "train"))
        folder = str(run_dir_for(store, 2))
        deadline = time.monotonic() + 120
        while not (workers := processes_with(folder)):
            assert time.monotonic() < deadline, jobs.get(job_id)["log"]
            assert jobs.get(job_id)["status"] in ("queued", "running"), jobs.get(job_id)["log"]
            time.sleep(0.1)
        assert jobs.get(job_id)["stage"] == "train"
        assert jobs.cancel(job_id)
        snap = jobs.wait(job_id, 60)
        assert snap["status"] == "cancelled", snap["log"]
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        assert store.get_run(2)["status"] == "cancelled" and store.get_run(1)["status"] == "done"
        jobs.shutdown()


def test_job_shows_the_training_workers_log_in_any_round(tmp_path, monkeypatch):
    """The worker's log tail follows the train run the job reports, also inside a rounds stage, from the moment
    the run is opened (before the first step) until the next stage reports."""
    from storage import Store
    from studio.app.jobs import JobQueue
    from studio.recipe.schema import Recipe
    from studio.stages.runs import Progress
    from studio.stages.train import run_dir_for

    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    step, seen = threading.Event(), threading.Event()

    folder = None

    def runner(recipe, store, stages, progress, cancel):
        nonlocal folder
        run_id = store.create_run("rounds train", "train", None, recipe.name)
        folder = run_dir_for(store, run_id)
        folder.mkdir(parents=True)
        (folder / "worker.log").write_text("loading the student\n\nround 2 worker ready\n")
        progress(Progress("train", total=4, done=0, run_id=run_id, round=2))
        seen.wait(10)
        progress(Progress("evaluate", total=3, done=1, run_id=run_id + 1, round=2))
        step.wait(10)
        return {}

    with Store(tmp_path / "jobs.duckdb") as store:
        jobs = JobQueue(store, runner, make_dashboard=False)
        job_id = jobs.submit(Recipe.model_validate({"name": "logs"}), ("rounds",))
        deadline = time.monotonic() + 10
        while not jobs.get(job_id)["stage_logs"]:
            assert time.monotonic() < deadline, jobs.get(job_id)
            time.sleep(0.02)
        assert jobs.get(job_id)["stage_logs"] == [{"title": "training worker", "path": str(folder / "worker.log"),
                                                    "lines": ["loading the student", "round 2 worker ready"]}]
        seen.set()
        while jobs.get(job_id)["stage_logs"]:
            assert time.monotonic() < deadline, jobs.get(job_id)
            time.sleep(0.02)
        step.set()
        assert jobs.wait(job_id, 10)["status"] == "done"
        jobs.shutdown()


@pytest.mark.slow
def test_job_shows_the_log_of_the_engine_its_stage_runs_on(tmp_path):
    """An agent stage's engine (here a real llama-server started inside the job, as evaluate starts one) has
    its log tail in the job's snapshot while it runs, a server started elsewhere (a playground lane) not; the
    panel shows none of its chatter."""
    from storage import Store
    from studio.app.jobs import JobQueue
    from studio.app.views import runs as views
    from studio.llm.gguf_files import bundled_gguf
    from studio.llm.llama_cpp import llama_server
    from studio.recipe.schema import Recipe

    shown, elsewhere_up, done = threading.Event(), threading.Event(), threading.Event()
    started: dict[str, int] = {}

    def elsewhere() -> None:
        with llama_server(bundled_gguf(), parallel=1, ctx_per_slot=256, threads=1):
            elsewhere_up.set()
            done.wait(120)

    other = threading.Thread(target=elsewhere, name="playground-prompted")
    other.start()

    def runner(recipe, store, stages, progress, cancel):
        with llama_server(bundled_gguf(), parallel=1, ctx_per_slot=256, threads=1) as server:
            started["port"] = server.port
            shown.wait(120)
        return {}

    try:
        assert elsewhere_up.wait(180)
        with Store(tmp_path / "jobs.duckdb") as store:
            jobs = JobQueue(store, runner, make_dashboard=False)
            job_id = jobs.submit(Recipe.model_validate({"name": "engine-log"}), ("evaluate",))
            deadline = time.monotonic() + 180
            while "port" not in started or not jobs.get(job_id)["stage_logs"]:
                assert time.monotonic() < deadline, jobs.get(job_id)
                time.sleep(0.1)
            (log,) = jobs.get(job_id)["stage_logs"]
            assert log["title"] == f"llama-server on port {started['port']}"
            assert any("listening" in line or "server" in line for line in log["lines"]), log
            chatter = [line for line in log["lines"] if not views.PROBLEM.search(line)]
            shown_log = views.job_log(jobs.get(job_id))  # the server's chatter stays in its file (#35)
            assert chatter and not any(line in shown_log for line in chatter), shown_log
            shown.set()
            assert jobs.wait(job_id, 60)["status"] == "done"
            assert jobs.get(job_id)["stage_logs"] == []
            jobs.shutdown()
    finally:
        shown.set()
        done.set()
        other.join(30)


def test_the_job_log_shows_the_studios_lines_and_only_the_problems_of_its_processes_logs():
    """Library warnings and llama-server's per-request lines stay in their files; an error line is shown, with
    the file it came from."""
    from studio.app.views import runs as views

    job = {"log": ["10:00:01 started", "10:00:02 train: 3/48 loss 1.9"], "stage_logs": [
        {"title": "training worker", "path": "/runs/7/worker.log", "lines": [
            "/venv/peft/tuners/lora.py:12: UserWarning: fan_in_fan_out is set to False", "  warnings.warn(",
            "FutureWarning: loading the fast tokenizer failed, the slow one is used",
            "RuntimeError: CUDA error: out of memory"]},
        {"title": "llama-server on port 8081", "lines": [
            "slot update_slots: id  0 | task 4 | prompt done, n_past = 212", "srv  log_server_r: request: POST"]}]}
    shown = views.job_log(job)
    assert shown.splitlines() == [
        "10:00:01 started", "10:00:02 train: 3/48 loss 1.9",
        "--- training worker: problems in its log (all of it in /runs/7/worker.log) ---",
        "RuntimeError: CUDA error: out of memory"]
