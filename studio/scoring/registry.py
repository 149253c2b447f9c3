"""The Python scorers a recipe may name (`scorer: {kind: python, name: ...}`): only those the owner declares in the
`scorers` section of the studio's config file (`studio.owner.config` reads it), loaded from a module file or an
importable module, and called on each answer without letting the user's code stop a run.

It imports the base, the owner's checks (the message for an undeclared scorer, which the recipe gives too), the
tasks' Question and `studio.scoring.kinds`; nothing heavy.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path

from studio.errors import StudioError
from studio.owner.checks import unknown_scorer
from studio.scoring.exact import Score
from studio.scoring.kinds import failed, graded
from studio.tasks.loaders import Question


class ScorerError(StudioError, ValueError):
    """A scorer cannot be set up (an undeclared or unloadable Python scorer); the message names it."""


PythonScorer = Callable[[str, dict], float]


def load_python_scorer(name: str, declared: Mapping[str, dict], base_dir: Path | None = None) -> PythonScorer:
    """The function the config file declares as scorer `name`: {"module": "my_scorers.py" or "pkg.module",
    "function": "score"} (`function` defaults to `score`). A module written as a file path (ending in .py, or
    with a slash) is read from that file, relative to `base_dir` (the config file's folder); a dotted name is
    imported as usual. Any problem raises ScorerError naming the scorer."""
    if name not in declared:
        raise ScorerError(unknown_scorer(name, declared))
    entry = declared[name]
    module_name = entry.get("module") if isinstance(entry, Mapping) else None
    function_name = entry.get("function", "score") if isinstance(entry, Mapping) else None
    if not isinstance(module_name, str) or not isinstance(function_name, str):
        raise ScorerError(f"scorer {name}: declare it as {{\"module\": ..., \"function\": ...}} in the config file")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            file = Path(module_name).expanduser()
            file = file if file.is_absolute() or base_dir is None else base_dir / file
            if not file.is_file():
                raise ScorerError(f"scorer {name}: module file {file} not found")
            spec = importlib.util.spec_from_file_location(f"studio_scorer_{name}", file)
            assert spec is not None and spec.loader is not None  # a .py file always has a source loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ScorerError:
        raise
    except Exception as exc:  # the user's module failed to import: say so in one line
        raise ScorerError(f"scorer {name}: cannot load {module_name} ({type(exc).__name__}: {exc})") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ScorerError(f"scorer {name}: {module_name} has no function {function_name!r}")
    return function


def python(prediction: str, question: Question, name: str, function: PythonScorer, pass_score: float) -> Score:
    """The function's score for the prediction and the question's row (question, answer and every extra column).

    A function that raises, or returns anything but a number from 0 to 1, scores the answer 0 with an
    error ("scorer units raised ValueError: ..."): one odd answer does not stop a run, and the error shows
    on the episode.
    """
    row = {"question": question.question, "answer": question.answer, **question.extra}
    try:
        value = function(prediction, row)
    except Exception as exc:  # the user's code: any failure is this answer's, reported on one line
        return failed(" ".join(f"scorer {name} raised {type(exc).__name__}: {exc}".split()))
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        return failed(f"scorer {name} returned {value!r}, not a score from 0 to 1")
    return graded(float(value), pass_score)
