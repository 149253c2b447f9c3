"""The playground imports transformers before its lanes' threads start (#35.1): two threads importing it at once fail
about one run in three ("cannot import name 'AutoTokenizer' from 'transformers'"), and each lane's engine imports it
lazily. In a fresh interpreter (where nothing has imported transformers yet) a finder records the thread of its first
import; the lanes stop before any model loads (the student's folder does not exist, no adapter is trained)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys, threading

first = {}


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("transformers", "peft"):
            first.setdefault(name, threading.current_thread().name)
        return None


sys.meta_path.insert(0, Watch())
from storage import Store
from studio.recipe.schema import Recipe
from studio.stages.playground import ask
from studio.tasks import Question

before = sorted(first)
recipe = Recipe.model_validate({"name": "imports", "student": {"model": sys.argv[2]},
                                "evaluation": {"engine": {"name": "transformers"}}})
with Store(sys.argv[1]) as store:
    *_, lanes = ask(recipe, store, Question("p1", "arithmetic", None, "1 + 1?", "2"), ["prompted", "finetuned"])
print(json.dumps({"before": before, "first": first, "errors": {a: lane.error for a, lane in lanes.items()}}))
"""


def test_the_lanes_find_transformers_imported_by_the_thread_that_asked(tmp_path):
    missing = tmp_path / "no-model"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "studio.duckdb"), str(missing)],
                          capture_output=True, text=True, timeout=300, check=True)
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["before"] == [], "importing the playground imported transformers"
    assert f"no model folder {missing}" in seen["errors"]["prompted"]  # the lane got as far as loading the model
    assert "has no trained adapter yet" in seen["errors"]["finetuned"]
    assert seen["first"] == {"transformers": "MainThread", "peft": "MainThread"}


def test_only_lanes_that_use_transformers_preload_it():
    """A remote teacher's ReAct text or chat API needs none; a chat template read by a tokenizer does, on any engine;
    peft only for the fine-tuned agent's adapter on the transformers engine."""
    from studio.recipe.schema import Recipe
    from studio.stages.playground import heavy_packages

    react = Recipe.model_validate({"name": "r", "evaluation": {"engine": {"name": "llama.cpp"}}})
    assert [heavy_packages(react, a) for a in ("teacher", "prompted", "finetuned")] == [set(), set(), set()]
    tools = react.model_copy(update={"format": "tools"})
    assert heavy_packages(tools, "finetuned") == {"transformers"}
    assert heavy_packages(tools, "teacher") == set()  # the teacher's chat API offers the tools itself
    on_transformers = Recipe.model_validate({"name": "t", "evaluation": {"engine": {"name": "transformers"}}})
    assert heavy_packages(on_transformers, "prompted") == {"transformers"}
    assert heavy_packages(on_transformers, "finetuned") == {"transformers", "peft"}
