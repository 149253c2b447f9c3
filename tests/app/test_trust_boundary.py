"""One trust boundary: a logged-in browser user (driven through gradio_client, the calls the page makes, against a
studio behind `--auth`) reaches only what the studio's owner declared in its config. Each case here ran code,
sent a secret, reached an undeclared host or read a file before the owner's config decided what a recipe may
reach; the CLI gives the same one-line errors."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from studio.paths import ROOT
from tests.support.openai_server import Reply

AUTH = ("alice", "secret")
SECRET = "sentinel-secret-value-3141"
BASE = "name: probe\ntrajectories: {source: import, path: studio/tasks/data/arithmetic/trajectories.json}\n"


def evil_model(folder: Path, marker: Path) -> Path:
    """A model folder whose tokenizer is its own Python: importing it writes `marker`."""
    folder.mkdir(parents=True)
    code = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    (folder / "config.json").write_text(json.dumps({"model_type": "gemma3_text", "auto_map": code}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "EvilTokenizer", "auto_map": code}))
    (folder / "tokenization_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass EvilTokenizer: ...\n")
    return folder


@pytest.fixture
def studio(tmp_path, serve, monkeypatch):
    """A studio behind a login over a store whose owner's config (mcp.json beside it) declares a model folder and
    one loopback endpoint, `declared`; `listener` is an OpenAI-compatible server nobody declared."""
    from gradio_client import Client

    from storage import Store
    from studio.app.server import create_app, parse_auth, running

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("STUDIO_AUTH", "alice:secret")
    monkeypatch.setenv("STUDIO_UPLOADS", str(tmp_path / "uploads"))
    listener = serve(lambda call: Reply(text="Thought: done.\nAction: finish[42]"))
    declared = serve(lambda call: Reply(text="Thought: done.\nAction: finish[42]"))
    (tmp_path / "models").mkdir()
    (tmp_path / "mcp.json").write_text(json.dumps({
        "endpoints": {"declared": {"base_url": declared.url}},
        "models": {"roots": ["models"]}}))
    with Store(tmp_path / "studio.duckdb") as store:
        app = create_app(store, auth=parse_auth(":".join(AUTH)), recipes_dir=tmp_path / "recipes")
        with running(app) as url:
            yield {"client": Client(url, auth=AUTH, verbose=False), "store": store, "tmp": tmp_path,
                   "listener": listener, "declared": declared, "url": url}


def problems(client, text: str) -> str:
    """The problems the Recipes tab shows for a recipe text (the Validate button)."""
    return html.unescape(client.predict(text, api_name="/validate_recipe")[0])


def save(client, text: str) -> str:
    return client.predict(text, api_name="/save_recipe")[0]


def ask(client, name: str, agents: list[str]) -> str:
    return client.predict(name, "What is 6 times 7?", agents, "recipe's engine", api_name="/playground_ask")[0]


def test_a_model_that_ships_its_own_code_is_refused_and_never_runs(studio):
    client, tmp = studio["client"], studio["tmp"]
    marker = tmp / "ran.txt"
    inside = evil_model(tmp / "models" / "evil", marker)
    outside = evil_model(tmp / "elsewhere" / "evil", marker)
    for model, expected in [(inside, "ships its own code"), (outside, "no model folder"),
                            ("evil-org/evil-model", "downloads from Hugging Face are off")]:
        text = BASE + f"student: {{model: '{model}'}}\n"
        shown = problems(client, text)
        assert "student.model" in shown and expected in shown, shown
        assert "not saved" in save(client, text)
    # A recipe stored before these checks (written into the store directly) is refused where it would be used.
    studio["store"].save_recipe("probe", BASE + f"student: {{model: '{inside}'}}\n")
    assert "is not valid" in ask(client, "probe", ["prompted"])
    assert not marker.exists()


@pytest.mark.parametrize(("section", "field"), [
    ("teacher: {base_url: '{listener}', api_key_env: AWS_SECRET_ACCESS_KEY}", "teacher.base_url"),
    ("teacher: {base_url: 'https://api.openai.com/v1', api_key_env: AWS_SECRET_ACCESS_KEY}", "teacher.api_key_env"),
    ("teacher: {endpoint: declared, api_key_env: STUDIO_AUTH}", "teacher.api_key_env"),
    ("teacher: {endpoint: nowhere}", "teacher.endpoint"),
    ("evaluation: {engine: {name: server, base_url: '{listener}'}}", "evaluation.engine.base_url"),
    ("evaluation: {engine: {name: llama.cpp, base_url: '{listener}'}}", "evaluation.engine.base_url"),
    ("evaluation: {sets: [{task: hotpotqa, scorer: {kind: judge, base_url: '{listener}'}}]}",
     "evaluation.sets[0].scorer.base_url"),
    ("tool: {backend: wikipedia, base_url: '{listener}'}", "tool.base_url"),
    ("tool: {backend: serpapi, api_key_env: AWS_SECRET_ACCESS_KEY}", "tool.api_key_env"),
], ids=["teacher url", "teacher key", "teacher key of a declared endpoint", "undeclared endpoint", "server engine",
        "latent engine url", "judge url", "search url", "search key"])
def test_a_recipe_cannot_send_a_secret_or_reach_an_undeclared_host(studio, section, field):
    client, listener = studio["client"], studio["listener"]
    text = BASE + section.replace("{listener}", listener.url) + "\n"
    shown = problems(client, text)
    assert field + ":" in shown, shown
    assert "not saved" in save(client, text)
    studio["store"].save_recipe("probe", text)  # stored before the checks: refused where it is used
    assert "is not valid" in ask(client, "probe", ["teacher", "prompted"])
    assert listener.calls == []


def test_a_declared_endpoint_is_reached_without_any_key(studio):
    """The owner's one-line declaration of a loopback server: the teacher reaches it, and no secret goes along
    (the endpoint declares no key), though the recipe was written with the URL alone."""
    client, declared = studio["client"], studio["declared"]
    text = BASE + f"teacher: {{base_url: '{declared.url}', model: local-model}}\n"
    assert "✓" in save(client, text)
    message = ask(client, "probe", ["teacher"])
    assert "answered" in message, message
    assert declared.calls and studio["listener"].calls == []
    sent = " ".join(str(v) for call in declared.calls for v in call.headers.values())
    assert SECRET not in sent and "alice" not in sent


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/no-such-file-here", "pyproject.toml",
                                  "studio/tasks/data/../../pyproject.toml", "recipes/../pyproject.toml"])
def test_a_recipe_reads_no_file_outside_the_data_roots(studio, path):
    client = studio["client"]
    text = f"name: probe\nevaluation: {{sets: [{{task: custom, path: '{path}'}}]}}\n"
    shown = problems(client, text)
    assert "evaluation.sets[0].path" in shown and "is not a file in the studio's data folders" in shown, shown
    assert "root:" not in shown and "[project]" not in shown  # nothing of the file is shown
    studio["store"].save_recipe("probe", text)
    assert client.predict("probe", api_name="/playground_questions") is not None
    assert "root:" not in json.dumps(client.predict("probe", api_name="/playground_questions"))


def test_outside_and_missing_paths_read_the_same(studio):
    """The message never tells whether a path outside the roots exists."""
    client = studio["client"]

    def shown(path: str) -> str:
        return problems(client, f"name: probe\ntrajectories: {{source: import, path: '{path}'}}\n").replace(path, "P")

    assert shown("/etc/passwd") == shown("/etc/no-such-file-here")


def test_a_link_out_of_a_data_root_is_refused(studio):
    uploads = studio["tmp"] / "uploads"
    uploads.mkdir()
    (uploads / "passwd.csv").symlink_to("/etc/passwd")
    shown = problems(studio["client"], f"name: probe\nevaluation: {{sets: [{{task: custom, path: "
                                       f"'{uploads / 'passwd.csv'}'}}]}}\n")
    assert "evaluation.sets[0].path" in shown and "is not a file in the studio's data folders" in shown, shown


@pytest.mark.parametrize("name", ["../outside/notes", "/etc/hosts", "..", "quickstart/../../pyproject"])
def test_recipe_names_open_nothing_outside_the_recipes_folders(studio, name):
    outside = studio["tmp"].parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "notes.yaml").write_text("name: notes\ndescription: private notes\n")
    text, status, *_ = studio["client"].predict(name, api_name="/open_recipe")
    assert "private notes" not in (text or "") and "not a recipe name" in status, status
    assert "no recipe named" in studio["client"].predict(name, "all", api_name="/start_job")[0]
    assert studio["store"].list_runs() == []


def test_saving_over_a_shipped_recipe_asks_for_a_new_name(studio):
    client = studio["client"]
    shipped = (ROOT / "recipes" / "quickstart.yaml").read_text()
    assert "shipped with the studio" in save(client, shipped + "\ndescription: mine\n")
    assert (ROOT / "recipes" / "quickstart.yaml").read_text() == shipped
    assert not (studio["tmp"] / "recipes" / "quickstart.yaml").exists()
    text, status, *_ = client.predict("quickstart", api_name="/open_recipe")  # still listed and opened
    assert text.strip() == shipped.strip() and "opened" in status


def test_the_cli_gives_the_same_one_line_errors(tmp_path, capsys, monkeypatch):
    from studio.cli.main import main

    monkeypatch.setenv("STUDIO_DB", str(tmp_path / "studio.duckdb"))
    cases = {"teacher: {base_url: 'http://127.0.0.1:9/v1'}": "teacher.base_url: http://127.0.0.1:9/v1 is not an "
             "endpoint the studio's owner declared",
             "trajectories: {source: import, path: /etc/passwd}": "trajectories.path: /etc/passwd is not a file in "
             "the studio's data folders", "student: {model: evil/model}": "student.model: evil/model is no folder"}
    for section, expected in cases.items():
        recipe = tmp_path / "r.yaml"
        recipe.write_text(f"name: r\n{section}\n")
        assert main(["validate", str(recipe)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {expected}") and err.count("\n") == 1, err
