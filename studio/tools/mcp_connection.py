"""One MCP server's session, kept by one task on the hub's event loop.

The SDK's transports and sessions are anyio contexts that must be left in the task that entered
them, so each server gets one owner task that opens the session, waits to be told to stop, and
closes it. Calls from other tasks share that session (the SDK matches answers to requests). A stdio
server that dies is restarted once; a call it was running comes back as an error, never replayed,
because the call may be what killed it or may have done half its work.
"""

from __future__ import annotations

import asyncio
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

from studio.errors import StudioError
from studio.owner.config import ServerConfig, child_env, http_headers
from studio.tools.mcp_result import result_text
from studio.tools.tool import CallResult

STDERR_LINES = 5  # the tail of a failed server's stderr that goes into its error
CLOSE_TIMEOUT_S = 10.0  # the SDK's own stdio shutdown is bounded at about 6 s


class McpServerError(StudioError):
    """A declared MCP server could not be started or reached; the message names it and says why."""


@dataclass(frozen=True)
class McpTool:
    """One tool a server offers, as its `tools/list` describes it."""

    server: str
    name: str
    description: str
    input_schema: dict


class Connection:
    """The session with one server; every coroutine here runs on the hub's loop."""

    def __init__(self, server: ServerConfig, connect_timeout_s: float):
        self.server = server
        self.connect_timeout_s = connect_timeout_s
        self.tools: list[McpTool] = []
        self.info: dict[str, str] = {}
        self.stopped: str | None = None  # why calls now fail for good
        self._session: ClientSession | None = None
        self._generation = 0  # bumped by every successful open
        self._alive = False  # False once a stdio server's output ended
        self._restarted = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._errlog: Any = None

    @property
    def stdio(self) -> bool:
        return self.server.command is not None

    async def open(self) -> None:
        """Start the server (or reach it) and list its tools; McpServerError says why not."""
        self._stop = asyncio.Event()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._own(ready))
        try:
            await ready
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the session and stop the process; bounded even if the server ignores us."""
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), CLOSE_TIMEOUT_S)
            except TimeoutError:
                task.cancel()
                await asyncio.wait([task], timeout=CLOSE_TIMEOUT_S)

    async def _own(self, ready: asyncio.Future[None]) -> None:
        # The server's stderr goes to a temporary file: quiet while healthy, quoted when it fails.
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as self._errlog:
            try:
                await self._session_until_stopped(ready)
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc if isinstance(exc, StudioError) else self._start_error(exc))
                elif not self.stdio:
                    self.stopped = _leaf_text(exc)
                if not isinstance(exc, Exception):
                    raise
            finally:
                self._alive = False
                self._errlog = None

    async def _session_until_stopped(self, ready: asyncio.Future[None]) -> None:
        async with AsyncExitStack() as stack:
            read, write = await self._transport(stack)
            session = await stack.enter_async_context(ClientSession(read, write))
            with anyio.fail_after(self.connect_timeout_s):
                init = await session.initialize()
                tools = await _list_tools(session)
            self.info = {"name": init.server_info.name, "version": init.server_info.version}
            self.tools = [McpTool(self.server.name, t.name, t.description or "", dict(t.input_schema)) for t in tools]
            self._session = session
            self._generation += 1
            ready.set_result(None)
            await self._stop.wait()

    async def _transport(self, stack: AsyncExitStack) -> tuple[Any, Any]:
        if not self.stdio:
            http = httpx2.AsyncClient(
                headers=http_headers(self.server), timeout=httpx2.Timeout(self.connect_timeout_s, read=300)
            )
            await stack.enter_async_context(http)
            return await stack.enter_async_context(streamable_http_client(self.server.url or "", http_client=http))
        params = StdioServerParameters(
            command=self.server.command or "",
            args=list(self.server.args),
            env=child_env(self.server),
            cwd=self.server.cwd,
        )
        read, write = await stack.enter_async_context(stdio_client(params, errlog=self._errlog))
        return await self._watch(stack, read), write

    async def _watch(self, stack: AsyncExitStack, read: Any) -> Any:
        """Relay the server's messages, noting when they end: then the process is gone."""
        relay_send, relayed = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        group = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(group.cancel_scope.cancel)

        async def relay() -> None:
            async with relay_send:
                try:
                    async for item in read:
                        await relay_send.send(item)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the session closed its end: our own shutdown
            self._alive = False

        self._alive = True
        group.start_soon(relay)
        return relayed

    async def call(self, tool: str, arguments: dict, timeout_s: float) -> CallResult:
        """The tool's result; every failure, the server's included, is an error result."""
        if self.stdio and not self._alive and self.stopped is None:
            await self._restart(self._generation, self._stderr_tail() or "it exited")
        if self.stopped is not None or self._session is None:
            return CallResult(f"MCP server {self.server.name} stopped: {self.stopped}", True)
        session, generation = self._session, self._generation
        try:
            result = await session.call_tool(tool, arguments, read_timeout_seconds=timeout_s)
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                return CallResult(f"timed out after {timeout_s:g} s", True)
            if exc.code != types.CONNECTION_CLOSED:
                return CallResult(f"MCP server {self.server.name}: {exc.message}", True)
            reason = self._stderr_tail() or "connection closed"
            await self._restart(generation, reason)
            if not self.stdio:
                after = "a server reached by URL is not restarted"
            else:
                after = "it was restarted" if self.stopped is None else "it is not restarted again"
            return CallResult(f"MCP server {self.server.name} stopped during the call ({reason}); {after}", True)
        except (RuntimeError, ValueError) as exc:  # a result the SDK rejects, e.g. against the output schema
            return CallResult(f"MCP server {self.server.name}: {exc}", True)
        return result_text(result)

    async def _restart(self, generation: int, reason: str) -> None:
        """Start a stdio server again after its first death; after a second, calls fail for good."""
        async with self._lock:
            if generation != self._generation or self.stopped is not None:
                return  # another call already restarted it, or gave up
            if not self.stdio or self._restarted:
                self.stopped = f"it died again after a restart ({reason})" if self.stdio else reason
                return
            self._restarted = True
            await self.close()
            try:
                await self.open()
            except StudioError as exc:
                self.stopped = f"restart failed: {exc}"

    def _start_error(self, exc: BaseException) -> McpServerError:
        return McpServerError(f"MCP server `{self.server.name}`: {self._why(_leaf(exc))}")

    def _why(self, exc: BaseException) -> str:
        tail = self._stderr_tail()
        if isinstance(exc, FileNotFoundError) and self.server.cwd and exc.filename == self.server.cwd:
            return f"working folder not found: {self.server.cwd}"
        if isinstance(exc, FileNotFoundError):
            return f"command not found: {self.server.command}"
        if isinstance(exc, PermissionError):
            return f"cannot run {self.server.command}: permission denied"
        if isinstance(exc, TimeoutError):
            why = f"timed out connecting after {self.connect_timeout_s:g} s"
            return f"{why}: {tail}" if tail else why
        if isinstance(exc, MCPError) and exc.code == types.CONNECTION_CLOSED and self.stdio:
            return f"exited at start: {tail}" if tail else "exited at start"
        if isinstance(exc, httpx2.HTTPError):
            return f"cannot reach {self.server.url}: {exc}"
        return _leaf_text(exc)

    def _stderr_tail(self) -> str:
        """The last lines the server wrote to stderr, on one line."""
        if self._errlog is None:
            return ""
        self._errlog.flush()
        self._errlog.seek(0)
        lines = [line.strip() for line in self._errlog.read().splitlines() if line.strip()]
        self._errlog.seek(0, 2)
        return " | ".join(lines[-STDERR_LINES:])


async def _list_tools(session: ClientSession) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, which anyio task groups raise."""
    while isinstance(exc, BaseExceptionGroup):
        real = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (real or list(exc.exceptions))[0]
    return exc


def _leaf_text(exc: BaseException) -> str:
    leaf = _leaf(exc)
    return f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
