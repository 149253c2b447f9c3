"""The calculator as an MCP server over stdio: `python -m studio.tools.servers.calculator`.

One tool, `calculate(expression)`. An expression the calculator refuses comes back as a tool error
result (`isError`) with the reason, which the agent can read and correct, never as a crash.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from studio.tools import calculator
from studio.tools.servers import VERSION

DESCRIPTION = (
    "Evaluates an arithmetic expression, e.g. 12 * (3 + 4) / 2. Supports + - * / // % ** (or ^), parentheses, "
    "12% as a percent, 1,234 as a thousand-grouped number, and sqrt, abs, round, min, max, floor, ceil. "
    "Returns the number: an integer when whole, else rounded to 10 significant digits."
)

server = MCPServer("fireact-calculator", version=VERSION)


@server.tool(description=DESCRIPTION, structured_output=False)
def calculate(expression: str) -> str:
    """The calculator's answer as text; a refusal becomes a ToolError, which the SDK sends as an error result."""
    try:
        return calculator.calculate(expression)
    except calculator.CalculatorError as exc:
        raise ToolError(str(exc)) from None


if __name__ == "__main__":
    server.run("stdio")
