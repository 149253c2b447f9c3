"""Prompts for each method and mode.

Few-shot prompts (for a model that was not fine-tuned) carry k worked examples drawn from the paper's
recorded GPT-4 trajectories, never from evaluation questions, optionally after the method's instructions
(as the ReAct paper wrote them for large models; a small model follows the examples alone better).
Zero-shot prompts (for a fine-tuned student) are exactly the training format: `Question: ...` then the
trajectory, nothing else.
"""

from __future__ import annotations

import random
import re
from functools import cache

from studio.paths import DATA_DIR
from studio.trajectories.episode import detect_method, parse_steps, question_block

FINETUNE_DIR = DATA_DIR / "fireact" / "finetune" / "alpaca_format"
REFLECTION = "Now that I haven't solved the task within {k} steps, let me do a reflection and think about how to " \
             "improve my strategy."
FINAL_OBSERVATION = re.compile(r"\nObservation: Episode finished, reward = \w+\s*$")
MAX_EXAMPLE_CHARS = 1400  # keeps a 3-shot prompt well inside a small model's context

TOOLS = (
    "Thought can reason about the current situation, and Action can be two types:\n"
    "(1) search[query], which searches the web and returns the most relevant passage.\n"
    "(2) finish[answer], which returns the answer and finishes the task.\n"
)
INSTRUCTIONS = {
    "react": "Solve a question answering task with interleaving Thought, Action, Observation steps. " + TOOLS,
    "reflexion": "Solve a question answering task with interleaving Thought, Action, Observation steps. " + TOOLS
    + "If the task is not solved within a few steps, reflect on what went wrong and change strategy.\n",
    "cot": "Solve a question answering task by thinking step by step in one Thought, "
    "then give the answer with Action: finish[answer].\n",
    "io": "Answer the question with Action: finish[answer].\n",
}
ANSWER_FORMAT = {
    "strategyqa": "The answer is yes or no.\n",
    "mmlu": "The answer is the letter of the right choice (A, B, C or D).\n",
}


@cache
def _recorded_examples() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(task, method) -> [(question, trajectory)] from the bundled recorded trajectories, without any
    question of the shipped evaluation splits (a few StrategyQA dev questions are in the paper's files)."""
    from studio.tasks import find_gold
    from studio.trajectories.files import guess_task, read_records, recorded_reward

    pools: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name, task in (("hotpotqa_multimethod.json", "hotpotqa"), ("multitask_multimethod.json", None)):
        for record in read_records(FINETUNE_DIR / name, "alpaca"):
            if find_gold(record.question) is not None or recorded_reward(record.text) is not True:
                continue
            steps = parse_steps(record.text)
            kind = task or guess_task(record.question, steps[-1].argument if steps else None, record.text)
            if task is None and kind == "hotpotqa":
                continue  # HotpotQA examples come from the HotpotQA file
            text = FINAL_OBSERVATION.sub("", record.text)
            pools.setdefault((kind, detect_method(steps)), []).append((record.question, text))
    return pools


def few_shot_examples(task: str, method: str, k: int, seed: int = 0) -> list[tuple[str, str]]:
    """k recorded (question, trajectory) pairs for a task and method; HotpotQA stands in for tasks with
    none recorded (Bamboogle, custom), ReAct for IO (its final answer is the example)."""
    pools = _recorded_examples()
    source = "react" if method == "io" else method
    pool = pools.get((task, source)) or pools.get(("hotpotqa", source)) or pools[("hotpotqa", "react")]
    short = [ex for ex in pool if len(ex[0]) + len(ex[1]) <= MAX_EXAMPLE_CHARS] or pool
    return random.Random(f"{seed}|{task}|{method}").sample(short, min(k, len(short)))


def _io_example(question: str, trajectory: str) -> str:
    answer = next((s.argument for s in reversed(parse_steps(trajectory)) if s.action == "finish"), "")
    return question_block(question) + f"Action: finish[{answer}]\n"


def prompt_prefix(task: str, method: str, question: str, k: int, seed: int = 0, instructions: bool = True) -> str:
    """Everything before the agent's first word. k == 0 is the zero-shot (fine-tuned) format."""
    if k == 0:
        return question_block(question)
    examples = [_io_example(q, trajectory) if method == "io" else question_block(q) + trajectory.rstrip() + "\n"
                for q, trajectory in few_shot_examples(task, method, k, seed)]
    if not instructions:
        return "\n".join([*examples, question_block(question)])
    head = INSTRUCTIONS[method] + ANSWER_FORMAT.get(task, "") + "Here are some examples.\n"
    return "\n".join([head, *examples, "(END OF EXAMPLES)\n" + question_block(question)])


def reflection(k: int) -> str:
    """The thought that opens a Reflexion step, worded as in the paper's data."""
    return REFLECTION.format(k=k)

