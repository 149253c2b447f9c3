"""Prompts of the `tools` format: a system message and, for a prompted agent, worked examples as earlier turns.

A fine-tuned agent sees exactly what it was trained on: `AGENT_SYSTEM`, then the question. A prompted one gets the
method's instructions and the task's answer format in the system message, and k recorded trajectories (the ones
the `react` format shows as text) as earlier conversations with real tool calls, so both formats are prompted with
the same examples. The tool list itself is the chat template's (or the API's) business.
"""

from __future__ import annotations

from studio.agents.prompts import ANSWER_FORMAT, few_shot_examples, is_search
from studio.tools.tool import SEARCH, ToolSpec, text_params
from studio.trajectories.episode import parse_steps
from studio.trajectories.messages import AGENT_SYSTEM, messages_from_steps

METHOD_SYSTEM = {
    "react": AGENT_SYSTEM,
    "reflexion": AGENT_SYSTEM + " If the task is not solved within a few steps, reflect on what went wrong and "
                                "change strategy.",
    "cot": "Answer the question by thinking step by step in one reply, without calling any tool, and end it with a "
           "last line `Answer: <answer>`.",
    "io": "Answer the question with one line `Answer: <answer>`, without calling any tool.",
}
REFLECT = ("You have not solved the task within {k} steps. Reflect on what went wrong and how to change your "
           "strategy, then go on.")
LAST_STEP = "You have no steps left: give your answer now, as a last line `Answer: <answer>`."


def offers_tools(method: str) -> bool:
    """Whether the method acts with tools (CoT and IO answer from what the model knows)."""
    return method in ("react", "reflexion")


def tools_prompt(task: str, method: str, k: int, seed: int = 0, instructions: bool = True,
                 tools: list[ToolSpec] | None = None, examples: str | None = None) -> list[dict]:
    """The messages before the question: the system message and, with k > 0, k worked examples."""
    if k == 0:
        return [{"role": "system", "content": AGENT_SYSTEM}]
    specs = tools or [SEARCH]
    system = METHOD_SYSTEM[method] if instructions else AGENT_SYSTEM
    system += "\n" + ANSWER_FORMAT.get(task, "")
    searches_only = all(is_search(spec) for spec in specs)
    drawn = few_shot_examples(task, method, k, seed, borrow=searches_only, file=examples)
    turns: list[dict] = []
    for question, trajectory in drawn:
        steps = parse_steps(trajectory)
        if not offers_tools(method):  # the example's answer alone, as its method would give it
            steps = [s for s in steps if s.action == "finish"][-1:]
        turns += messages_from_steps(question, steps, text_params(specs))
    return [{"role": "system", "content": system.strip()}, *turns]
