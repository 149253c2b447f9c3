"""A recipe as a user writes it (comments, explicit defaults, flow and block styles), and the lines an edit
changed: what the YAML tests, through gradio_client and in the browser, check a form edit against."""

from __future__ import annotations

import difflib

# A comment, an explicit default (`few_shot_k: 3`, `correct_only: true`), flow and block styles and a whole
# `evaluation:` section: all of it must survive a change of one number.
WRITTEN = """\
# my experiment: keep this comment
name: kept-demo
data:
  correct_only: true   # explicit default, on purpose
student:
  max_steps: 16
  batch_size: 4
# the evaluation, as the paper
evaluation:
  sets:
    - {task: hotpotqa, split: eval250, n: 20}   # the first 20
  agents: [prompted, finetuned]
  few_shot_k: 3
"""


def changed_lines(before: str, after: str) -> list[str]:
    """The lines a change added or removed, with their + or -."""
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
