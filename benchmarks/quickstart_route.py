"""Which of the studio's own files the quickstart's route touches, from `launch.py run` to its dashboard: the #33
bar (what a newcomer reads to follow one run). Two counts, over the command's process and the training worker it
starts: the files of `studio/` and `storage/` whose functions run (a profile hook every Python process of the run
loads, through a `sitecustomize` on its path; a module or class body run on import does not count), and the files
merely imported (`PYTHONPROFILEIMPORTTIME`). Both add
`launch.py`.

    .venv/bin/python benchmarks/quickstart_route.py [--repo PATH] [--recipe recipes/quickstart.yaml] [--small]

`--repo` runs another checkout (a `git worktree` of an older commit, with `.venv` and `.cache` linked in) for
the figure before. The run uses a fresh store and run folder in a temporary directory and the repository's
`.cache/` (the converted model is made once). It trains and evaluates for real: minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$")
OWN = ("studio", "storage")
HOOK = '''
import atexit, os, sys, threading
_seen = set()
def _profile(frame, event, arg):
    code = frame.f_code  # a function's code is optimized; a module's or a class body's (run on import) is not
    if event == "call" and code.co_flags & 1 and not code.co_name.startswith(("<listcomp", "<dictcomp", "<setc",
                                                                               "<genexpr")):
        _seen.add(code.co_filename)
sys.setprofile(_profile)
threading.setprofile(_profile)
@atexit.register
def _dump():
    with open(os.path.join(os.environ["ROUTE_OUT"], f"called-{os.getpid()}.txt"), "w") as out:
        out.write("\\n".join(sorted(_seen)))
'''


def own_files(repo: Path, paths: set[str]) -> set[Path]:
    """The paths that are the studio's or the store's own files in `repo`, relative to it."""
    found = set()
    for raw in paths:
        path = Path(raw)
        if path.is_absolute() and path.is_relative_to(repo) and path.relative_to(repo).parts[0] in OWN:
            found.add(path.relative_to(repo))
    return found


def imported(repo: Path, text: str) -> set[Path]:
    """The studio's and the store's files an import-time profile names (a package by its `__init__.py`)."""
    names = {m.group(1) for line in text.splitlines() if (m := IMPORT.match(line))}
    files = set()
    for name in (n for n in names if n.split(".")[0] in OWN):
        base = repo.joinpath(*name.split("."))
        files |= {c.relative_to(repo) for c in (base.with_suffix(".py"), base / "__init__.py") if c.is_file()}
    return files


def route(repo: Path, recipe: str, small: bool) -> tuple[set[Path], set[Path]]:
    """The files whose functions ran, and the files imported, on one run of the recipe in `repo`."""
    with tempfile.TemporaryDirectory(prefix="route-") as tmp:
        hook = Path(tmp, "hook")
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "STUDIO_RUNS": f"{tmp}/runs", "ROUTE_OUT": tmp,
               "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               "STUDIO_CACHE": str(ROOT / ".cache"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        if small:  # the same stages on 2 training steps and 2 questions a set: minutes less
            text = Path(repo, recipe).read_text()
            text = re.sub(r"max_steps: \d+\n  batch", "max_steps: 2\n  batch", text)
            recipe = f"{tmp}/{Path(recipe).name}"
            Path(recipe).write_text(re.sub(r"n: \d+}", "n: 2}", text))
        done = subprocess.run([sys.executable, "launch.py", "run", recipe, "--db", f"{tmp}/route.duckdb"],
                              cwd=repo, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = [line for line in done.stderr.splitlines() if not line.startswith("import time:")][-15:]
            sys.exit(f"the run failed ({done.returncode}):\n" + "\n".join(tail))
        print("\n".join(done.stdout.splitlines()[-6:]))
        profiles = done.stderr + "".join(log.read_text(errors="replace") for log in Path(tmp, "runs").rglob("*.log"))
        called = {line for f in Path(tmp).glob("called-*.txt") for line in f.read_text().splitlines()}
    launcher = {Path("launch.py")}
    return own_files(repo, called) | launcher, imported(repo, profiles) | launcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--recipe", default="recipes/quickstart.yaml")
    parser.add_argument("--small", action="store_true", help="2 training steps and 2 questions per set")
    args = parser.parse_args()
    repo = args.repo.resolve()
    called, imports = route(repo, args.recipe, args.small)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                            text=True).stdout.strip()
    print(f"`launch.py run {args.recipe}` at {commit}: {len(called)} files whose functions run, "
          f"{len(imports)} files imported")
    for f in sorted(imports):
        print(f"  {'ran ' if f in called else '    '} {f}")


if __name__ == "__main__":
    main()
