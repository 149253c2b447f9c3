"""ReAct episodes end to end with the bundled model, the local search tool and a real DuckDB file."""

import pytest

from studio.agents.loop import AgentSpec
from studio.agents.react_step import EpisodeRunner
from studio.recipe.schema import Tool
from studio.tasks import draw
from studio.tools.search import Search
from studio.tools.toolbox import search_toolbox
from studio.trajectories.episode import parse_steps

pytestmark = pytest.mark.slow


def test_local_react_episodes_are_stored(store, bundled_model_dir):
    from studio.llm.local import LocalBackend

    backend = LocalBackend("bundled:gemma-3-270m")
    questions = draw("hotpotqa", "eval250", None, 2, None)
    run = store.create_run("local react", "evaluate")
    searches = []
    search = Search(Tool(), store)

    def logged_search(query):
        searches.append(query)
        return search(query)

    spec = AgentSpec("react", "prompted", k=1, max_steps=2, max_tokens=48)
    EpisodeRunner(backend, search_toolbox(logged_search), spec).run(questions, lambda e: store.add_episode(run, e))
    rows = store.trajectories(run)
    assert [r["question_id"] for r in sorted(rows, key=lambda r: r["question_id"])] == sorted(q.id for q in questions)
    for r in rows:
        assert r["error"] is None and r["model"] == "bundled:gemma-3-270m" and r["agent"] == "prompted"
        assert r["prediction"] is not None and r["em"] is not None and 1 <= r["n_steps"] <= 3
        assert r["tokens_in"] > 200 and r["tokens_out"] > 0 and r["compute_s"] > 0
        assert parse_steps(r["text"])[-1].action == "finish"
    observations = [s["observation"] for r in rows for s in r["steps"] if s["action"] == "search"]
    assert len(observations) == len(searches)  # every search action went through the tool
    assert all(store.cache_get("local", " ".join(q.split()), 1) is not None for q in searches)
