"""Trajectory files in the forms users bring and trainers read: ReAct text as Alpaca JSON or chat JSONL, and
tool-calling conversations as OpenAI fine-tuning JSONL or ShareGPT/Hermes (`tool_files`).

Reading ReAct text is all-or-nothing: a malformed record stops the import with its file and line, before
anything is stored. Tool-calling files skip and report their malformed records instead.

A record whose question the shipped data knows is scored against its gold by the `score` its reader is handed
(the stages pass `studio.scoring.kinds.task_score`: the scoring sits above the trajectories, which never import it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from studio.errors import StudioError
from studio.files import check_output_file, write_text
from studio.trajectories.episode import MARKER, Episode, detect_method, final_answer, parse_steps
from studio.trajectories.tool_files import TOOL_FORMATS, Skipped, read_tool_episodes, tool_record

REWARD = re.compile(r"Episode finished, reward = (\w+(?:\.\d+)?)")
CHOICES = re.compile(r"\nA\. .*\nB\. .*", re.DOTALL)
YES_NO_START = re.compile(r"^(is|are|was|were|do|does|did|can|could|would|will|should|has|have|had)\b", re.I)


class Graded(Protocol):
    """What a score says of an answer, as an episode keeps it."""

    em: float
    f1: float
    correct: bool


ScoreFn = Callable[[str, str | None, str], Graded]  # (task, prediction, gold) -> its score


class TrajectoryFileError(StudioError, ValueError):
    """A trajectory file that cannot be read; the message names the file, line and record."""


@dataclass
class Record:
    """One recorded trajectory: the question the agent saw and the text it wrote (with observations)."""

    question: str
    text: str
    line: int


def _fail(path: Path, line: int, record: int, what: str) -> TrajectoryFileError:
    return TrajectoryFileError(f"{path}:{line}: record {record}: {what}")


def _json_array_items(path: Path, text: str, what: str = "an Alpaca file") -> list[tuple[int, Any]]:
    """(line, item) for each element of a top-level JSON array, so errors can name the line."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:pos + 1] == "[":
        raise TrajectoryFileError(f"{path}:1: {what} is a JSON array of records")
    pos += 1
    items: list[tuple[int, Any]] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise TrajectoryFileError(f"{path}:{text.count(chr(10)) + 1}: the JSON array is not closed")
        if text[pos] == "]":
            return items
        line = text.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _fail(path, exc.lineno, len(items) + 1, f"invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise _fail(path, line, len(items) + 1, "JSON nested too deeply to be a trajectory") from None
        items.append((line, item))


def _split_record(path: Path, line: int, number: int, stream: str) -> Record:
    """Question and agent text from one record's text: everything before the first Thought/Action/
    Observation line is the question (MMLU records keep their choices there, and a few chat records
    carry the question in the first assistant turn), the rest is the trajectory."""
    first = MARKER.search(stream)
    if first is None:
        raise _fail(path, line, number, "no Thought/Action/Observation lines")
    question = stream[: first.start()].strip().removeprefix("Question: ").strip()
    if not question:
        raise _fail(path, line, number, "no question before the first Thought/Action line")
    return Record(question, stream[first.start():].rstrip() + "\n", line)


def _alpaca_record(path: Path, line: int, number: int, item: Any) -> Record:
    if not isinstance(item, dict):
        raise _fail(path, line, number, "expected an object with instruction, input, output")
    for field in ("instruction", "output"):
        if not isinstance(item.get(field), str) or not item[field].strip():
            raise _fail(path, line, number, f"`{field}` is missing or empty")
    parts = (item["instruction"], item.get("input") or "", item["output"])
    return _split_record(path, line, number, "\n".join(p.strip() for p in parts if p.strip()))


def _chat_record(path: Path, line: int, number: int, item: Any) -> Record:
    messages = item.get("messages") if isinstance(item, dict) else None
    if not isinstance(messages, list) or not messages:
        raise _fail(path, line, number, "expected an object with a non-empty `messages` list")
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in (
            "system", "user", "assistant"
        ):
            raise _fail(path, line, number, "each message needs a role (system/user/assistant) and text content")
    turns = [m["content"].strip() for m in messages if m["role"] != "system"]
    return _split_record(path, line, number, "\n".join(turns))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrajectoryFileError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def read_records(path: str | Path, fmt: str) -> list[Record]:
    """Every record of an Alpaca JSON or chat JSONL file, or a TrajectoryFileError for the first bad one."""
    path = Path(path)
    text = _read_text(path)
    if fmt == "alpaca":
        items = _json_array_items(path, text)
        records = [_alpaca_record(path, line, i, item) for i, (line, item) in enumerate(items, 1)]
    elif fmt == "chat":
        records = []
        for line, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _fail(path, line, len(records) + 1, f"invalid JSON: {exc.msg}") from None
            except RecursionError:
                raise _fail(path, line, len(records) + 1, "JSON nested too deeply to be a trajectory") from None
            records.append(_chat_record(path, line, len(records) + 1, item))
    else:
        raise TrajectoryFileError(f"{path}: unknown format {fmt!r} (alpaca, chat, openai or sharegpt)")
    if not records:
        raise TrajectoryFileError(f"{path}: no trajectories in the file")
    return records


def recorded_reward(text: str) -> bool | None:
    """The reward the recording environment gave (`Episode finished, reward = True/1`), if any."""
    found = REWARD.findall(text)
    if not found:
        return None
    return found[-1].lower() in ("true", "1", "1.0")


def guess_task(question: str, answer: str | None, text: str) -> str:
    """Task of a recorded question the shipped data does not know: choices mean MMLU; a True/False
    reward is what FireAct's HotpotQA environment wrote; a yes/no answer to a yes/no question is
    StrategyQA; the rest HotpotQA. A guess: pass the task explicitly where it is known."""
    if CHOICES.search("\n" + question):
        return "mmlu"
    if re.search(r"reward = (True|False)\b", text):
        return "hotpotqa"
    if answer and answer.strip().lower().rstrip(".") in ("yes", "no") and YES_NO_START.match(question):
        return "strategyqa"
    return "hotpotqa"


def record_to_episode(record: Record, task: str | None, model: str | None, score: ScoreFn) -> Episode:
    """Parse, label and score one record: by `score` against the gold of the shipped data where the question is
    known, else the recorded reward stands for correctness and EM/F1 stay unknown."""
    from studio.tasks import find_gold

    steps = parse_steps(record.text)
    prediction = final_answer(steps)
    known = find_gold(record.question)
    task = task or (known.task if known else guess_task(record.question, prediction, record.text))
    if known is not None and known.task == task:
        qid, gold, split = known.id, known.answer, known.split
        result = score(task, prediction, gold)
        em, f1, correct = result.em, result.f1, result.correct
    else:
        qid = f"{task}-" + hashlib.sha1(record.question.encode()).hexdigest()[:12]
        gold, split, em, f1, correct = None, None, None, None, recorded_reward(record.text)
    return Episode(
        task=task, split=split, question_id=qid, question=record.question, gold=gold,
        method=detect_method(steps), agent="teacher", model=model, text=record.text, steps=steps,
        prediction=prediction, em=em, f1=f1, correct=correct, finished=prediction is not None,
        invalid_actions=sum(s.action == "invalid" for s in steps),
    )


def read_episodes(path: str | Path, fmt: str, task: str | None = None, model: str | None = None, *,
                  score: ScoreFn) -> tuple[list[Episode], list[Skipped]]:
    """All records of a file as episodes, with keys made unique where a question repeats for a method, and the
    records skipped (tool-calling formats only; the ReAct text formats raise on the first bad record). `score`
    scores the ReAct records of known questions (tool-calling records carry no gold)."""
    path = Path(path)
    skipped: list[Skipped] = []
    if fmt in TOOL_FORMATS:
        found, skipped = read_tool_episodes(path, _read_text(path), fmt, task, model, _tool_array_items)
        if not found:
            why = f": {len(skipped)} malformed, the first {skipped[0]}" if skipped else ""
            raise TrajectoryFileError(f"{path}: no readable {fmt} trajectories in the file{why}")
    else:
        found = [record_to_episode(record, task, model, score) for record in read_records(path, fmt)]
    episodes = []
    seen: dict[str, int] = {}
    for episode in found:
        seen[episode.key] = seen.get(episode.key, 0) + 1
        if seen[episode.key] > 1:
            episode.question_id = f"{episode.question_id}#{seen[episode.key]}"
        episodes.append(episode)
    return episodes, skipped


def episodes_from_file(path: str | Path, fmt: str, task: str | None = None, model: str | None = None, *,
                       score: ScoreFn) -> list[Episode]:
    """The episodes of `read_episodes`, the skipped records left out."""
    return read_episodes(path, fmt, task, model, score=score)[0]


def _tool_array_items(path: Path, text: str) -> list[tuple[int, Any]]:
    return _json_array_items(path, text, "a JSON file of tool-calling records")


def to_alpaca(row: dict[str, Any]) -> dict[str, str]:
    """A stored trajectory as an Alpaca record: the question, and the agent's text as the output."""
    return {"instruction": row["question"], "input": "", "output": row["text"]}


def to_chat(row: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """A stored trajectory as OpenAI chat messages: the question, then agent turns and observations."""
    messages = [{"role": "user", "content": row["question"]}]
    for part in re.split(r"\n(?=Observation: |Thought: )", row["text"].strip()):
        role = "user" if part.startswith("Observation: ") else "assistant"
        if messages[-1]["role"] == role == "assistant":
            messages[-1]["content"] += "\n" + part
        else:
            messages.append({"role": role, "content": part})
    return {"messages": messages}


def write_file(rows: list[dict[str, Any]], fmt: str, out: str | Path,
               run_tools: dict[int, list[dict[str, Any]]] | None = None) -> int:
    """Write trajectories as Alpaca JSON, chat JSONL, OpenAI fine-tuning JSONL or ShareGPT JSONL; returns how many
    were written. `run_tools` holds each run's offered tools (OpenAI function schemas) for converting its ReAct
    trajectories to the tool-calling formats."""
    if fmt == "alpaca":
        text = json.dumps([to_alpaca(r) for r in rows], ensure_ascii=False, indent=1)
    elif fmt in TOOL_FORMATS:
        text = "".join(json.dumps(tool_record(r, fmt, (run_tools or {}).get(r["run_id"], [])), ensure_ascii=False)
                       + "\n" for r in rows)
    else:
        text = "".join(json.dumps(to_chat(r), ensure_ascii=False) + "\n" for r in rows)
    write_text(check_output_file(Path(out)), text)
    return len(rows)
