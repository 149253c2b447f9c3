"""Shared fixtures and helpers: a fresh DuckDB file per test, scripted OpenAI-compatible servers, the public
data beside the project, the CLI, the processes a test started."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from openai_server import Call, Reply, ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
FINETUNE = SHARED / "fireact" / "data" / "finetune"
needs_shared = pytest.mark.skipif(not FINETUNE.exists(), reason="needs ../shared/datasets")


def processes_with(text: str) -> list[int]:
    """Pids of the processes whose command line (arguments joined by spaces) contains `text`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                pids.append(int(proc.name))
    return pids


def owner_config(**changes: object):
    """The built-in owner's config with some declarations changed (`scorers=`, `endpoints=` as
    {name: Endpoint}, `model_roots=`, `allow_downloads=`, `data_roots=`), for a test that declares them."""
    import dataclasses

    from studio.owner.config import load_config

    built_in = load_config(None)
    if "endpoints" in changes:  # declared beside the built-in ones, as a config file's are
        changes["endpoints"] = built_in.endpoints | changes["endpoints"]
    return dataclasses.replace(built_in, **changes)


@pytest.fixture(autouse=True, scope="session")
def data_roots(tmp_path_factory):
    """The test suite, as the studio's owner, lets recipes read files in its temporary folders and the public
    data beside the project (STUDIO_DATA_ROOTS, as an owner's `data.roots`); the trust tests declare their own."""
    import os

    from studio.owner.config import DATA_ROOTS_VAR

    roots = os.pathsep.join([str(tmp_path_factory.getbasetemp()), str(SHARED)])
    previous = os.environ.get(DATA_ROOTS_VAR)
    os.environ[DATA_ROOTS_VAR] = roots
    yield roots
    if previous is None:
        os.environ.pop(DATA_ROOTS_VAR, None)
    else:
        os.environ[DATA_ROOTS_VAR] = previous


@pytest.fixture
def serve():
    """Start scripted OpenAI-compatible servers (tests/openai_server.py); they stop when the test ends."""
    servers: list[ScriptedServer] = []

    def start(script: Callable[[Call], Reply] = lambda call: Reply()) -> ScriptedServer:
        server = ScriptedServer(script)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def store(tmp_path):
    from storage import Store

    with Store(tmp_path / "studio.duckdb") as s:
        yield s


@pytest.fixture
def cli(tmp_path):
    """Run `launch.py` in a subprocess against a test database; returns the CompletedProcess."""

    def run(*args: str, db: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "launch.py"), *args, "--db", str(db or tmp_path / "cli.duckdb")],
            capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def bundled_model_dir() -> Path:
    """The bundled Gemma 3 270M converted to a normal model folder, in the studio cache.

    The cache is `STUDIO_CACHE` if set, else the repository's `.cache/`, so the one-time conversion (about a
    minute) happens once per machine, not per test or per session.
    """
    from studio.llm.bundled import bundled_model_dir as convert

    return convert()


@pytest.fixture(scope="session")
def llama_server():
    """llama.cpp's llama-server serving the bundled Gemma 3 270M GGUF for the whole session (4 slots, Gemma's
    chat template for `/v1/chat/completions`); yields its OpenAI-compatible base URL. Fails, never skips, when
    llama.cpp is missing: `setup.sh` builds it."""
    from studio.llm.gguf_files import bundled_gguf
    from studio.llm.llama_cpp import LlamaCppError, llama_server

    try:
        server = llama_server(bundled_gguf(), parallel=4, ctx_per_slot=2048, threads=2, alias="gemma-3-270m",
                              chat_template="gemma")
        with server:
            yield server.base_url
    except LlamaCppError as exc:
        pytest.fail(str(exc), pytrace=False)


TINY_AGENT = {
    "name": "tiny-agent",
    "description": "64 recorded GPT-4 HotpotQA trajectories, 16 LoRA steps: the quickstart's fine-tune, for tests.",
    "trajectories": {"source": "import", "path": "studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json",
                     "format": "alpaca", "task": "hotpotqa"},
    "data": {"max_examples": 64},
    "student": {"max_seq_length": 768, "max_steps": 16, "batch_size": 4, "learning_rate": 3e-4},
    "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 20}], "agents": ["finetuned"],
                   "engine": "transformers"},
}


def train_recipe(spec: dict, tmp: Path) -> tuple:
    """Run a recipe's generate and train stages in `tmp` (its runs folder and database there); returns (recipe,
    database file)."""
    import os

    from storage import Store
    from studio.recipe.schema import Recipe
    from studio.stages.pipeline import run_recipe

    recipe = Recipe.model_validate(spec)
    saved = os.environ.get("STUDIO_RUNS")
    os.environ["STUDIO_RUNS"] = str(tmp / "runs")
    try:
        with Store(tmp / "agent.duckdb") as store:
            run_recipe(recipe, store, ("generate", "train"))
    finally:
        if saved is None:
            os.environ.pop("STUDIO_RUNS")
        else:
            os.environ["STUDIO_RUNS"] = saved
    return recipe, tmp / "agent.duckdb"


@pytest.fixture(scope="session")
def trained_agent(tmp_path_factory, bundled_model_dir):
    """A recipe whose student is fine-tuned as the quickstart's is (64 recorded trajectories, 16 steps, about a
    minute), trained once per session. Returns (recipe, database file): copy the file before writing to it."""
    return train_recipe(TINY_AGENT, tmp_path_factory.mktemp("trained-agent"))


TOOLS_AGENT = TINY_AGENT | {
    "name": "tools-agent",
    "description": "16 recorded HotpotQA trajectories as search calls, 8 LoRA steps (about 45 s): a `tools`-format "
                   "agent that has learned to end its turn after a call, for tests.",
    "format": "tools",
    "data": {"max_examples": 16},
    "student": {"max_seq_length": 768, "max_steps": 8, "batch_size": 2, "learning_rate": 1e-3},
}


@pytest.fixture(scope="session")
def trained_tools_agent(tmp_path_factory, bundled_model_dir):
    """A `tools`-format recipe with a student fine-tuned in eight steps: enough that it ends its turn after a call, so
    a tool-calling server's reply is a whole call (two steps made it write calls until its tokens ran out). Returns
    (recipe, database file)."""
    return train_recipe(TOOLS_AGENT, tmp_path_factory.mktemp("trained-tools-agent"))
