"""The MCP servers a run uses, behind a plain synchronous API: one session per server for the whole run.

The SDK is async; the studio's episodes run in threads. The hub keeps one background thread with one
event loop that owns every session, and each `call` hands its coroutine to that loop, so episodes in
flight share one process per server instead of starting one each. `ServerTool` is one server tool as a `Tool`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

from studio.errors import StudioError
from studio.owner import checks
from studio.owner.config import OwnerConfig
from studio.tools.mcp_connection import CLOSE_TIMEOUT_S, Connection, McpServerError, McpTool
from studio.tools.tool import CallResult, Tool, ToolSpec

__all__ = ["CallResult", "McpHub", "McpServerError", "McpTool", "ServerTool", "check_servers"]


class McpHub:
    """`with McpHub(config, ["calc"]) as hub: hub.call("calc", "add", {"a": 1, "b": 2}, timeout_s=5)`."""

    def __init__(self, config: OwnerConfig, servers: list[str], *, connect_timeout_s: float = 30):
        for name in servers:
            try:
                checks.server(config, name)
            except checks.Refused as exc:
                raise McpServerError(str(exc)) from None
        self.config = config
        self.connect_timeout_s = connect_timeout_s
        self._connections = {name: Connection(config.servers[name], connect_timeout_s) for name in servers}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> McpHub:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-hub", daemon=True)
        self._thread.start()
        try:
            self._run(self._open_all(), self.connect_timeout_s + CLOSE_TIMEOUT_S + 5)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._run(self._close_all(), 2 * CLOSE_TIMEOUT_S + 5)
        except concurrent.futures.TimeoutError:
            pass  # each close is bounded; the loop stops anyway
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=CLOSE_TIMEOUT_S)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None

    def tools(self, server: str) -> list[McpTool]:
        """The server's tools as it listed them (again after a restart)."""
        return list(self._connection(server).tools)

    def server_info(self, server: str) -> dict:
        """`{"name": ..., "version": ...}` as the server introduced itself."""
        return dict(self._connection(server).info)

    def call(self, server: str, tool: str, arguments: dict, timeout_s: float) -> CallResult:
        """Call a tool from any thread; tool errors, timeouts and dead servers come back as error results."""
        connection = self._connection(server)
        future = asyncio.run_coroutine_threadsafe(connection.call(tool, arguments, timeout_s), self._live_loop())
        try:  # the bound leaves room for one restart before the call
            return future.result(timeout=timeout_s + self.connect_timeout_s + CLOSE_TIMEOUT_S + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return CallResult(f"timed out after {timeout_s:g} s", True)

    def tool(self, spec: ToolSpec) -> ServerTool:
        """The tool `spec` describes (`spec.server`'s tool `spec.tool`), called through this hub."""
        return ServerTool(spec, self)

    def _connection(self, server: str) -> Connection:
        if server not in self._connections:
            raise McpServerError(f"MCP server `{server}` is not open in this hub; open: {', '.join(self._connections)}")
        return self._connections[server]

    def _live_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("McpHub used outside its `with` block")
        return self._loop

    def _run(self, coro: Coroutine[Any, Any, None], timeout_s: float) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._live_loop()).result(timeout=timeout_s)

    async def _open_all(self) -> None:
        results = await asyncio.gather(*(c.open() for c in self._connections.values()), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def _close_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self._connections.values()), return_exceptions=True)


class ServerTool(Tool):
    """A tool of an MCP server: called through the run's hub, within the spec's timeout; it never raises."""

    def __init__(self, spec: ToolSpec, hub: McpHub):
        super().__init__(spec)
        self.hub = hub

    def call(self, args: dict[str, Any]) -> CallResult:
        return self.hub.call(self.spec.server or "", self.spec.tool, args, self.spec.timeout_s)


def check_servers(config: OwnerConfig, names: list[str], timeout_s: float = 30) -> dict[str, list[McpTool] | str]:
    """Each server connected on its own: its tools, or the one line that says why it failed."""
    found: dict[str, list[McpTool] | str] = {}
    for name in names:
        try:
            with McpHub(config, [name], connect_timeout_s=timeout_s) as hub:
                found[name] = hub.tools(name)
        except StudioError as exc:
            found[name] = str(exc)
    return found
