"""Prompts for each method and mode.

Few-shot prompts (for a model that was not fine-tuned) carry k worked examples drawn from the paper's
recorded GPT-4 trajectories, never from evaluation questions, optionally after the method's instructions
(as the ReAct paper wrote them for large models; a small model follows the examples alone better).
Zero-shot prompts (for a fine-tuned student) are exactly the training format: `Question: ...` then the
trajectory, nothing else.
"""

from __future__ import annotations

import json
import random
import re
from functools import cache

from studio.paths import DATA_DIR
from studio.tools.tool import SEARCH, ToolSpec
from studio.trajectories.episode import detect_method, parse_steps, question_block

FINETUNE_DIR = DATA_DIR / "fireact" / "finetune" / "alpaca_format"
ARITHMETIC_TRAJECTORIES = DATA_DIR / "arithmetic" / "trajectories.json"
REFLECTION = "Now that I haven't solved the task within {k} steps, let me do a reflection and think about how to " \
             "improve my strategy."
FINAL_OBSERVATION = re.compile(r"\nObservation: Episode finished, reward = \w+\s*$")
MAX_EXAMPLE_CHARS = 1400  # keeps a 3-shot prompt well inside a small model's context

NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
SEARCH_LINE = "search[query], which searches the web and returns the most relevant passage."
FINISH_LINE = "finish[answer], which returns the answer and finishes the task."
STEPS = "Solve a question answering task with interleaving Thought, Action, Observation steps. "
REFLECT = "If the task is not solved within a few steps, reflect on what went wrong and change strategy.\n"
FIXED = {
    "cot": "Solve a question answering task by thinking step by step in one Thought, "
    "then give the answer with Action: finish[answer].\n",
    "io": "Answer the question with Action: finish[answer].\n",
}


def is_search(spec: ToolSpec) -> bool:
    """A search tool as the paper's agents knew it (`search[query]`), built in or served over MCP."""
    return spec.name == "search" and spec.text_argument == "query"


def _tool_line(spec: ToolSpec) -> str:
    """How the instructions present one tool: the paper's words for search, else its call form and description."""
    if is_search(spec):
        return SEARCH_LINE
    param = spec.text_argument
    form = f"{spec.name}[{param}]" if param else f"{spec.name}[{json.dumps(spec.input_schema.get('properties', {}))}]"
    return f"{form}: {' '.join(spec.description.split()) or 'no description'}"


def tools_text(tools: list[ToolSpec] | None = None) -> str:
    """The action list of the instructions; search and finish alone read as the ReAct paper wrote them."""
    lines = [_tool_line(spec) for spec in tools or [SEARCH]] + [FINISH_LINE]
    count = NUMBERS.get(len(lines), str(len(lines)))
    body = "".join(f"({i}) {line}\n" for i, line in enumerate(lines, 1))
    return f"Thought can reason about the current situation, and Action can be {count} types:\n{body}"


def method_instructions(method: str, tools: list[ToolSpec] | None = None) -> str:
    """The method's instructions, with the tool list for the methods that act."""
    if method in FIXED:
        return FIXED[method]
    return STEPS + tools_text(tools) + (REFLECT if method == "reflexion" else "")


ANSWER_FORMAT = {
    "strategyqa": "The answer is yes or no.\n",
    "mmlu": "The answer is the letter of the right choice (A, B, C or D).\n",
    "arithmetic": "The answer is a number.\n",
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
    for record in read_records(ARITHMETIC_TRAJECTORIES, "alpaca"):  # written for the train split only
        pools.setdefault(("arithmetic", "react"), []).append((record.question, FINAL_OBSERVATION.sub("", record.text)))
    return pools


@cache
def _file_examples(path: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """("custom", method) -> [(question, trajectory)] from a recipe's file of recorded trajectories."""
    from studio.paths import resolve
    from studio.trajectories.files import read_records

    pools: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for record in read_records(resolve(path), "chat" if path.endswith(".jsonl") else "alpaca"):
        pools.setdefault(("custom", detect_method(parse_steps(record.text))), []).append(
            (record.question, FINAL_OBSERVATION.sub("", record.text)))
    return pools


def few_shot_examples(task: str, method: str, k: int, seed: int = 0, borrow: bool = True,
                      file: str | None = None) -> list[tuple[str, str]]:
    """k recorded (question, trajectory) pairs for a task and method (from `file` when a recipe names one for its
    custom task); HotpotQA stands in (with `borrow`) for tasks with none recorded (Bamboogle, custom), ReAct for IO
    (its final answer is the example)."""
    pools = _file_examples(file) if file is not None else _recorded_examples()
    borrow = borrow and file is None
    source = "react" if method == "io" else method
    pool = pools.get((task, source))
    if not pool and not borrow:  # the task's own ReAct examples, or none
        pool = pools.get((task, "react"))
        if not pool:
            return []
    pool = pool or pools.get(("hotpotqa", source)) or pools[("hotpotqa", "react")]
    short = [ex for ex in pool if len(ex[0]) + len(ex[1]) <= MAX_EXAMPLE_CHARS] or pool
    return random.Random(f"{seed}|{task}|{method}").sample(short, min(k, len(short)))


def _io_example(question: str, trajectory: str) -> str:
    answer = next((s.argument for s in reversed(parse_steps(trajectory)) if s.action == "finish"), "")
    return question_block(question) + f"Action: finish[{answer}]\n"


def prompt_prefix(task: str, method: str, question: str, k: int, seed: int = 0, instructions: bool = True,
                  tools: list[ToolSpec] | None = None, examples: str | None = None) -> str:
    """Everything before the agent's first word. k == 0 is the zero-shot (fine-tuned) format. With tools other
    than search, the search task's examples would mislead: a task with no recorded examples of its own is then
    prompted zero-shot with the method's instructions and the tool list."""
    if k == 0:
        return question_block(question)
    searches_only = all(is_search(spec) for spec in tools or [SEARCH])
    drawn = few_shot_examples(task, method, k, seed, borrow=searches_only, file=examples)
    examples = [_io_example(q, trajectory) if method == "io" else question_block(q) + trajectory.rstrip() + "\n"
                for q, trajectory in drawn]
    head = method_instructions(method, tools) + ANSWER_FORMAT.get(task, "")
    if not examples:
        return head + question_block(question)
    if not instructions:
        return "\n".join([*examples, question_block(question)])
    return "\n".join([head + "Here are some examples.\n", *examples, "(END OF EXAMPLES)\n" + question_block(question)])


def reflection(k: int) -> str:
    """The thought that opens a Reflexion step, worded as in the paper's data."""
    return REFLECTION.format(k=k)

