"""The calculator as an MCP server over stdio: `python -m studio.tools.servers.calculator`.

One tool, `calculate(expression)`. An expression the calculator refuses comes back as a tool error
result (`isError`) with the reason, which the agent can read and correct, never as a crash.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from studio.tasks import arithmetic_calculator as calculator
from studio.tools.calculator import DESCRIPTION, NAME
from studio.tools.servers import VERSION

server = MCPServer("fireact-calculator", version=VERSION)


@server.tool(name=NAME, description=DESCRIPTION, structured_output=False)
def calculate(expression: str) -> str:
    """The calculator's answer as text; a refusal becomes a ToolError, which the SDK sends as an error result."""
    try:
        return calculator.calculate(expression)
    except calculator.CalculatorError as exc:
        raise ToolError(str(exc)) from None


if __name__ == "__main__":
    server.run("stdio")
