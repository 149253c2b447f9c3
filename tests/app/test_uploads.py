"""Uploads in the Recipes tab: a file picked in the browser lands in the uploads folder (a data root) under a
safe name, and the path the studio answers is one a recipe can use; names never reach outside the folder."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from studio.errors import StudioError

QUESTIONS = "question,answer\nWhat is 2 + 2?,4\nWhat is 3 + 3?,6\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The studio over an empty store, its uploads folder in a temporary directory; its data roots the default
    ones only (not the suite's temporary folders), so an upload is readable because it is in the uploads folder."""
    from gradio_client import Client

    from storage import Store
    from studio.app.server import create_app, running
    from studio.owner.config import DATA_ROOTS_VAR

    tmp = tmp_path_factory.mktemp("uploads")
    with pytest.MonkeyPatch.context() as mp, Store(tmp / "studio.duckdb") as store:
        mp.setenv("STUDIO_UPLOADS", str(tmp / "uploaded"))
        mp.delenv(DATA_ROOTS_VAR, raising=False)
        app = create_app(store, recipes_dir=tmp / "recipes")
        with running(app) as url:
            client = Client(url + "/", verbose=False, download_files=str(tmp / "downloads"))
            yield {"url": url, "client": client, "tmp": tmp, "uploads": tmp / "uploaded",
                   "studio": app.state.studio}
            client.close()


def studio_at(tmp: Path, monkeypatch) -> SimpleNamespace:
    """What `save_upload` reads of a Studio: the store's path (the uploads folder goes beside it)."""
    monkeypatch.delenv("STUDIO_UPLOADS", raising=False)
    return SimpleNamespace(store=SimpleNamespace(path=tmp / "db" / "studio.duckdb"))


def test_an_uploaded_csv_is_a_file_a_recipe_can_use(served, tmp_path):
    from gradio_client import handle_file

    from studio.recipe.io import parse_recipe

    source = tmp_path / "questions.csv"
    source.write_text(QUESTIONS)
    status = served["client"].predict(handle_file(str(source)), api_name="/upload_file")
    landed = served["uploads"] / "questions.csv"
    assert landed.read_text() == QUESTIONS
    path = str(landed.resolve())  # outside the repository: named absolute
    assert f"use <code>path: {path}</code>" in status and status.startswith("✓ uploaded questions.csv")
    text = f"name: uploaded\ntasks: [{{task: custom, path: {path}, n: 1}}]\n"
    assert parse_recipe(text, "r", served["studio"].owner).tasks[0].path == path
    problems, *_ = served["client"].predict(text, api_name="/validate_recipe")
    assert "valid recipe" in problems
    outside = tmp_path / "elsewhere.csv"  # the same file outside the data roots is refused
    outside.write_text(QUESTIONS)
    problems, *_ = served["client"].predict(text.replace(path, str(outside)), api_name="/validate_recipe")
    assert "tasks[0].path" in problems and "data folders" in problems and "valid recipe" not in problems


def test_a_name_with_a_path_lands_inside_the_uploads_folder(served):
    """`POST /gradio_api/upload` with the file named `../../evil.csv`, then `POST /gradio_api/call/upload_file`."""
    with httpx.Client(base_url=served["url"], timeout=30) as http:
        sent = http.post("/gradio_api/upload", files={"files": ("../../evil.csv", QUESTIONS.encode(), "text/csv")})
        assert sent.status_code == 200, sent.text
        (server_path,) = sent.json()
        file = {"path": server_path, "orig_name": "../../evil.csv", "meta": {"_type": "gradio.FileData"}}
        event = http.post("/gradio_api/call/upload_file", json={"data": [file]}).json()["event_id"]
        body = http.get(f"/gradio_api/call/upload_file/{event}").text
    status = json.loads(body.split("event: complete\ndata: ", 1)[1].splitlines()[0])[0]
    assert "uploaded evil.csv" in status
    assert (served["uploads"] / "evil.csv").read_text() == QUESTIONS
    assert not list(served["tmp"].glob("evil.csv")) and not list(served["tmp"].parent.glob("evil.csv"))


def test_a_file_type_the_studio_does_not_read_is_refused(served, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    script = tmp_path / "run.py"
    script.write_text("print('hi')\n")
    with pytest.raises(AppError, match="Invalid file type"):
        served["client"].predict(handle_file(str(script)), api_name="/upload_file")
    assert not (served["uploads"] / "run.py").exists()


@pytest.mark.parametrize(("sent", "stored"), [
    ("questions.csv", "questions.csv"),
    ("../../evil.csv", "evil.csv"),
    ("C:\\Users\\me\\data.JSONL", "data.jsonl"),
    (".hidden.json", "hidden.json"),
    ("-rf.csv", "rf.csv"),
    ("my questions (v2).csv", "my_questions_v2.csv"),
    ("données.csv", "donnees.csv"),
    ("問題.csv", "upload.csv"),
    ("tools.jinja", "tools.jinja"),
    ("tools.j2", "tools.j2"),
    ("x" * 300 + ".csv", "x" * 100 + ".csv"),
])
def test_safe_names(sent, stored):
    from studio.app.uploads import safe_name

    assert safe_name(sent) == stored


@pytest.mark.parametrize("sent", ["run.py", "..", ".csv", "archive.csv.zip", "noext", "../", ""])
def test_names_the_studio_does_not_take(sent):
    from studio.app.uploads import safe_name

    with pytest.raises(StudioError, match="the studio takes only"):
        safe_name(sent)


def test_a_name_taken_by_other_content_gets_a_suffix_the_same_content_is_reused(tmp_path, monkeypatch):
    from studio.app.uploads import save_upload

    studio = studio_at(tmp_path, monkeypatch)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(QUESTIONS)
    second.write_text(QUESTIONS + "What is 1 + 1?,2\n")
    folder = tmp_path / "db" / "uploads"
    assert save_upload(studio, first, "q.csv") == str(folder.resolve() / "q.csv")
    assert save_upload(studio, second, "q.csv").endswith("/q-2.csv")
    assert save_upload(studio, first, "q.csv").endswith("/q.csv")
    assert save_upload(studio, second, "q.csv").endswith("/q-2.csv")
    first.write_text("question,answer\nother,1\n")
    assert save_upload(studio, first, "q.csv").endswith("/q-3.csv")
    assert (folder / "q.csv").read_text() == QUESTIONS and sorted(p.name for p in folder.iterdir()) == [
        "q-2.csv", "q-3.csv", "q.csv"]


def test_a_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    from studio.app import uploads

    monkeypatch.setattr(uploads, "MAX_BYTES", 10)
    source = tmp_path / "big.csv"
    source.write_text(QUESTIONS)
    with pytest.raises(StudioError, match="the studio takes uploads up to"):
        uploads.save_upload(studio_at(tmp_path, monkeypatch), source, "big.csv")
    assert not (tmp_path / "db" / "uploads" / "big.csv").exists()


def test_the_recipe_path_is_relative_inside_the_repository_else_absolute(tmp_path):
    from studio.app.uploads import recipe_path, upload_markdown
    from studio.paths import ROOT

    assert recipe_path(ROOT / "storage" / "uploads" / "q.csv") == "storage/uploads/q.csv"
    assert recipe_path(tmp_path / "q.csv") == str(tmp_path.resolve() / "q.csv")
    assert "<code>path: storage/uploads/q.csv</code>" in upload_markdown("q.csv", "storage/uploads/q.csv")
    shown = upload_markdown("t.jinja", "storage/uploads/t.jinja")
    assert "<code>chat_template: storage/uploads/t.jinja</code> under <code>student</code>" in shown
