"""Talk to one of the studio's MCP servers as a real process, through the SDK's stdio client."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

from mcp import ClientSession, types
from mcp.client.stdio import StdioServerParameters, stdio_client

from studio.paths import ROOT


@dataclass
class Session:
    """What one session with a server saw: who it is, its tools, and the results of the calls made."""

    server: types.Implementation
    tools: list[types.Tool]
    results: list[types.CallToolResult]


def talk(module: str, *args: str, calls: list[tuple[str, dict]]) -> Session:
    """Start `python -m module args`, list its tools, make the calls in order, and stop it."""
    # the client passes only a few safe variables on; the cache must follow, or the index is built again
    env = {k: os.environ[k] for k in ("STUDIO_CACHE",) if k in os.environ}
    params = StdioServerParameters(command=sys.executable, args=["-m", module, *args], env=env, cwd=ROOT)

    async def session() -> Session:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            init = await client.initialize()
            tools = (await client.list_tools()).tools
            results = [await client.call_tool(name, arguments) for name, arguments in calls]
            return Session(init.server_info, tools, results)

    return asyncio.run(asyncio.wait_for(session(), 60))


def text(result: types.CallToolResult) -> str:
    """The one text content of a tool result."""
    (content,) = result.content
    assert isinstance(content, types.TextContent)
    return content.text
