"""One recipe from import to a shareable dashboard through `launch.py run`, on CPU, tiny and real:
the bundled model, local search, a real DuckDB file, a real HTTP server for the share link."""

import json
import threading
import time

import httpx
import pytest
import yaml

pytestmark = pytest.mark.slow

EVIL = "<script>alert('owned')</script>"
# Every trajectory carries markup, so whichever episodes the dashboard samples, its escaping is tested.
TRAJECTORY = ("Thought: I need to search {q}.\nAction: search[{q}]\nObservation: {q} is a film director. "
              + EVIL + "\n"
              "Thought: So the answer is {q}.\nAction: finish[{q}]\nObservation: Episode finished, reward = True\n")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, bundled_model_dir):
    tmp = tmp_path_factory.mktemp("e2e")
    names = ["Scott Derrickson", "Ed Wood", "Badr Hari", f"Mister {EVIL}"]
    source = tmp / "four.json"
    source.write_text(json.dumps([{"instruction": f"Who is {n}?", "input": "", "output": TRAJECTORY.format(q=n)}
                                  for n in names]))
    recipe = tmp / "tiny.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny-e2e",
        "trajectories": {"source": "import", "path": str(source), "task": "hotpotqa"},
        "student": {"max_steps": 1, "batch_size": 4, "max_seq_length": 128},
        "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 1}], "agents": ["prompted", "finetuned"],
                       "few_shot_k": 1, "max_steps": 1, "max_tokens": 24, "local_price_per_hour": 2.0},
    }))
    return tmp, recipe


def test_run_goes_from_recipe_to_scores_and_dashboard(cli, finished_run, monkeypatch):
    tmp, recipe = finished_run
    db, html_file = tmp / "studio.duckdb", tmp / "dashboard.html"
    monkeypatch.setenv("STUDIO_RUNS", str(tmp / "runs"))
    res = cli("run", str(recipe), "--dashboard", str(html_file), db=db, timeout=1500)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "evaluate: run 3: 2 episodes ran" in res.stdout and "dashboard " in res.stdout
    report = {r["stage"]: r for r in json.loads(cli("report", "--json", db=db).stdout)}
    assert set(report) == {"import", "train", "evaluate"}
    assert report["train"]["summary"]["precision"] in ("float32", "bfloat16")
    assert report["train"]["summary"]["examples"] == 4 and report["train"]["metrics"]["train_steps"] == 1
    agents = {s["agent"]: s for s in report["evaluate"]["scores"]}
    assert set(agents) == {"prompted", "finetuned"}
    for s in agents.values():
        assert s["questions"] == 1 and s["tokens_in"] > 0 and s["compute_s"] > 0 and s["cost_per_1000"] > 0
    assert agents["prompted"]["tokens_in"] > agents["finetuned"]["tokens_in"]  # few-shot prompt vs none

    page = html_file.read_text()
    assert "Plotly.newPlot" in page and '"type":"bar"' in page.replace(" ", "")
    assert "&lt;script&gt;alert(" in page and EVIL not in page and "<script>alert" not in page
    assert page.count("<script") == 2  # plotly.js and the figure loader, nothing from model text

    rerun = cli("run", str(recipe), "--dashboard", str(html_file), db=db, timeout=600)
    assert "already done" in rerun.stdout and "train: run 2: skipped" in rerun.stdout


def test_share_link_serves_the_dashboard_read_only(finished_run):
    import uvicorn

    from storage import Store
    from studio.app.server import create_app

    tmp, _ = finished_run
    with Store(tmp / "studio.duckdb") as store:
        (dashboard,) = store.query("SELECT id FROM dashboards ORDER BY created_at DESC LIMIT 1")
        server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            page = httpx.get(f"http://127.0.0.1:{port}/dashboards/{dashboard['id']}", timeout=30)
            assert page.status_code == 200 and "Plotly.newPlot" in page.text and EVIL not in page.text
            assert httpx.get(f"http://127.0.0.1:{port}/dashboards/nope", timeout=30).status_code == 404
            posted = httpx.post(f"http://127.0.0.1:{port}/dashboards/{dashboard['id']}", timeout=30)
            assert posted.status_code in (404, 405)
        finally:
            server.should_exit = True
            thread.join(10)
