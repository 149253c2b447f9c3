"""The trajectory type and its text form (`Thought: / Action: / Observation:`), as in the paper's data."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from studio.outcomes import outcome

MARKER = re.compile(r"^(Thought|Action|Observation)(?: \d+)?: ?", re.MULTILINE)
ACTION = re.compile(r"^\s*([\w.-]+)\[(.*)\]\s*$", re.DOTALL)
REFLECTION_START = "Now that I haven't solved the task"


def episode_key(agent: str, method: str, task: str, split: str | None, question_id: str, noise: float) -> str:
    """The resume key of an episode, computable before it runs."""
    return f"{agent}|{method}|{task}|{split or ''}|{question_id}|{noise:g}"


@dataclass
class Step:
    """One Thought / Action / Observation triple; `action` is empty when none could be parsed."""

    thought: str = ""
    action: str = ""
    argument: str = ""
    observation: str = ""
    status: str = ""  # a tool call's: "" went through, "invalid call", "tool error"


@dataclass
class Episode:
    """One agent's attempt at one question, with everything the store and dashboards need."""

    task: str
    question_id: str
    question: str
    method: str
    agent: str
    gold: str | None = None
    split: str | None = None
    model: str | None = None
    tool: str | None = None
    noise: float = 0.0
    text: str = ""
    steps: list[Step] = field(default_factory=list)
    prediction: str | None = None
    em: float | None = None
    f1: float | None = None
    correct: bool | None = None
    finished: bool = False
    invalid_actions: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency_s: float = 0.0
    compute_s: float = 0.0
    error: str | None = None
    served_by: str | None = None  # the servers that answered its model calls, space-separated, in order of use
    format: str = "react"  # "tools": the episode is its chat `messages`, `steps` are derived from them
    messages: list[dict] | None = None  # OpenAI chat messages (system, user, assistant + tool_calls, tool)
    offered_tools: list[dict] | None = None  # the tools offered, as OpenAI function schemas

    @property
    def key(self) -> str:
        """What makes an episode unique within a run, so a rerun can skip it."""
        return episode_key(self.agent, self.method, self.task, self.split, self.question_id, self.noise)

    def as_row(self) -> dict:
        row = asdict(self)
        row["steps"] = [asdict(s) for s in self.steps]
        row["n_steps"] = len(self.steps)
        row["key"] = self.key
        row["outcome"] = outcome(self.steps, self.finished, self.correct, self.invalid_actions, self.error)
        return row


def question_block(question: str) -> str:
    """How a question opens an episode, in training data and prompts alike."""
    return f"Question: {question}\n"


def parse_call(text: str) -> tuple[str, str]:
    """`getWeather[Paris]` -> ('getWeather', 'Paris'), the name as written; anything else -> ('', text)."""
    match = ACTION.match(text)
    return (match.group(1), match.group(2).strip()) if match else ("", text.strip())


def parse_action(text: str) -> tuple[str, str]:
    """`Search[foo]` -> ('search', 'foo'); anything else -> ('', text)."""
    name, argument = parse_call(text)
    return name.lower(), argument


def parse_steps(text: str) -> list[Step]:
    """Split trajectory text into steps; text before the first marker is ignored."""
    steps: list[Step] = []
    parts = MARKER.split(text)
    for label, body in zip(parts[1::2], parts[2::2], strict=True):
        body = body.rstrip("\n")
        starts_step = label == "Thought" or not steps or (
            steps[-1].action if label == "Action" else steps[-1].observation
        )
        if starts_step:
            steps.append(Step())
        step = steps[-1]
        if label == "Thought":
            step.thought = body.strip()
        elif label == "Action":
            step.action, step.argument = parse_action(body)
            step.action = step.action or "invalid"
        else:
            step.observation = body.strip()
    return steps


def render_steps(steps: list[Step]) -> str:
    """The inverse of `parse_steps` for well-formed steps."""
    lines = []
    for s in steps:
        if s.thought:
            lines.append(f"Thought: {s.thought}")
        if s.action:
            lines.append(f"Action: {s.action}[{s.argument}]" if s.action != "invalid" else f"Action: {s.argument}")
        if s.observation:
            lines.append(f"Observation: {s.observation}")
    return "\n".join(lines) + "\n"


def final_answer(steps: list[Step]) -> str | None:
    """The argument of the last `finish[...]`, or None when the agent never finished."""
    return next((s.argument for s in reversed(steps) if s.action == "finish"), None)


def detect_method(steps: list[Step]) -> str:
    """Method of a recorded trajectory: CoT is one thought then finish with no search; Reflexion has
    a reflection thought after failing; the rest are ReAct (the paper's data labels none)."""
    if any(s.thought.startswith(REFLECTION_START) for s in steps):
        return "reflexion"
    if len(steps) == 1 and steps[0].action == "finish":
        return "cot"
    return "react"
