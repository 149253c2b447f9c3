"""Scoring: how an answer (or the calls an agent made) is scored against its question's gold.

exact.py     the task's own scores: exact match and token F1 (HotpotQA), yes/no (StrategyQA), the letter (MMLU)
kinds.py     the kinds a recipe's `scorer:` names: numeric, contains, regex, choice; `task_score`, each task's own
calls.py     the `tool_calls` kind: the calls made against the expected calls
registry.py  the Python scorers the owner's config file declares
judge.py     the `judge` kind: a model grades the answer by the recipe's rubric, grades cached in the store
scorer.py    which scorer scores which question: the recipe's `scorer:` per source, set up before a run

It imports the base, the owner's checks, the tasks (their Question and the gold as scorers read it,
`studio.tasks.gold`), the recipe, the store and the models (for the judge); the agents and the stages import it.
Nothing below imports it: the recipe checks a scorer's settings with `studio.tasks.gold` and the
owner's checks, and the trajectory files score imported records with the score function a stage hands them.
"""
