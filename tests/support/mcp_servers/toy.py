"""A real MCP server for the tests: every tool exercises one way a user's server can behave.

Run as stdio (`python toy.py`) or streamable HTTP (`python toy.py --http PORT`).
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

server = MCPServer(name="toy", version=os.environ.get("TOY_VERSION", "1.2.3"), log_level="WARNING")


class Item(BaseModel):
    name: str
    qty: int


class Order(BaseModel):
    item: Item
    notes: list[str]


@server.tool(description="Say the text back.")
def echo(text: str) -> str:
    return text


@server.tool(description="Add two numbers.")
def add(a: float, b: float) -> str:
    return str(a + b)


@server.tool(description="Describe an order (a nested argument).")
def nested(order: Order) -> str:
    return f"{order.item.qty} x {order.item.name}; notes: {', '.join(order.notes)}"


@server.tool(description="Always fails.")
def fail() -> str:
    raise ToolError("the toy tool failed on purpose")


@server.tool(description="Kills the server process.")
def crash() -> str:
    print("toy: crashing on purpose", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool(description="Never answers.")
async def hang() -> str:
    import anyio

    await anyio.sleep_forever()
    return ""


@server.tool(description="About 1 MB of text.")
def huge() -> str:
    return "0123456789abcdef" * 65536


@server.tool(description="The server's process id.")
def pid() -> str:
    return str(os.getpid())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", port=int(sys.argv[2]))
    else:
        server.run()
