"""The calculator as a `Tool` in this process: `calculate(expression)`, answered by the arithmetic task's own
calculator (`studio.tasks.arithmetic_calculator`), as the shipped MCP server (`studio.tools.servers.calculator`)
answers it. It imports the task's calculator and the tool interface, nothing heavy.
"""

from __future__ import annotations

from typing import Any

from studio.tasks.arithmetic_calculator import CalculatorError, calculate
from studio.tools.tool import CallResult, Tool, ToolSpec

NAME = "calculate"
DESCRIPTION = (
    "Evaluates an arithmetic expression, e.g. 12 * (3 + 4) / 2. Supports + - * / // % ** (or ^), parentheses, "
    "12% as a percent, 1,234 as a thousand-grouped number, and sqrt, abs, round, min, max, floor, ceil. "
    "Returns the number: an integer when whole, else rounded to 10 significant digits."
)
SCHEMA = {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}
CALCULATOR = ToolSpec(NAME, DESCRIPTION, SCHEMA)


class CalculatorTool(Tool):
    """The calculator called directly: a refused expression is an error result worded as the MCP SDK words a
    tool's error, so an agent sees the same observation in this process as through the server."""

    def __init__(self, spec: ToolSpec = CALCULATOR):
        super().__init__(spec)

    def call(self, args: dict[str, Any]) -> CallResult:
        try:
            return CallResult(calculate(args["expression"]), False)
        except CalculatorError as exc:
            return CallResult(f"Error executing tool {NAME}: {exc}", True)
