"""Scoring: how an answer (or the calls an agent made) is scored against its question's gold.

exact.py     the task's own scores: exact match and token F1 (HotpotQA), yes/no (StrategyQA), the letter (MMLU)
kinds.py     the kinds a recipe's `scorer:` names: numeric, contains, regex, choice; `task_score`, each task's own
calls.py     the `tool_calls` kind: the calls made against the expected calls
registry.py  the Python scorers the owner's config file declares

Plain functions over a prediction and its Question: they import the base and `studio.tasks` alone, so the
recipe validates with them and the trajectory files score with them. The judge (a model) and the choice of a
scorer per question need the models and the recipe, above: `studio.agents.judge` and `studio.agents.scorer`.
"""
