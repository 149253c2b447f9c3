"""Command-line values, checked where argparse reads them: a bad value is one `error:` line, exit status 2.

Ids, numbers with bounds (taken from the recipe schema where the option mirrors a recipe field), stage
lists and output paths are refused before a command opens the store or starts any work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

from studio.files import OutputError, check_output_file
from studio.redact import scrub

MAX_ID = 2**31 - 1  # run ids are DuckDB INTEGERs


class Parser(argparse.ArgumentParser):
    """argparse with its complaints on one line (`error: launch.py run: argument ...`), no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def whole_number(low: int, high: int, what: str = "a whole number") -> Callable[[str], int]:
    """An int in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {what} from {low} to {high}")
        return value

    parse.__name__ = what  # argparse names the type in its own messages
    return parse


run_id = whole_number(1, MAX_ID, "a run id")


def run_ids(text: str) -> list[int]:
    """`3,5,8`: one or more run ids."""
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of run ids")
    return list(dict.fromkeys(run_id(p) for p in parts))


def schema_field(model: type, name: str) -> Callable[[str], Any]:
    """A value for an option that mirrors a recipe field: validated by the field's own type and bounds."""
    from pydantic import TypeAdapter, ValidationError

    from studio.recipe.io import describe_error

    info = model.model_fields[name]
    adapter = TypeAdapter(Annotated[info.annotation, *info.metadata])

    def parse(text: str) -> Any:
        try:
            return adapter.validate_python(text if info.annotation is str else _number(text))
        except (ValidationError, ValueError) as exc:
            reason = describe_error(exc.errors()[0]) if isinstance(exc, ValidationError) else str(exc)
            raise argparse.ArgumentTypeError(f"{text!r}: {reason}") from None

    return parse


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ValueError("is not a number") from None


def choice_list(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """`a,b`: a non-empty subset of `choices`."""

    def parse(text: str) -> tuple[str, ...]:
        picked = tuple(p.strip() for p in text.split(",") if p.strip())
        unknown = [p for p in picked if p not in choices]
        if unknown or not picked:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown) or 'empty list'}; choose from "
                                             f"{', '.join(choices)}")
        return picked

    return parse


def output_file(text: str) -> Path:
    """A file path that can be written (its folder is made when missing)."""
    try:
        return check_output_file(Path(text).expanduser(), text)
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fail(message: str) -> int:
    """Print an expected failure as `error:` lines; the exit status of every refused command."""
    for line in scrub(message).splitlines() or [message]:
        print(f"error: {line}", file=sys.stderr)
    return 2
