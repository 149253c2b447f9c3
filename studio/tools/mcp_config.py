"""Which MCP servers the studio may start: declared by whoever starts the studio, never by a recipe.

The file is the `mcpServers` format Claude Desktop and Cursor read, plus an optional `scorers`
section. A recipe only names servers; the command lines, URLs and secrets live here, so a shared
recipe can never make the studio run a program. `${VAR}` references are expanded only when a
server starts, so secrets are never stored in the config object, the store or a log.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from studio.errors import StudioError
from studio.paths import ROOT

ENV_VAR = "STUDIO_MCP_CONFIG"  # set by `--mcp-config`, so worker processes inherit the choice
FILE_NAME = "mcp.json"  # looked for beside the store file
BUILTIN = ("calculator", "search")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_REF = re.compile(r"\$\{([^}]*)\}")


class McpConfigError(StudioError):
    """The MCP config file, or a variable it references, is wrong; the message names where."""


@dataclass(frozen=True)
class ServerConfig:
    """One server: a command to spawn (stdio) or a URL to reach (streamable HTTP)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # unexpanded: `${VAR}` stays as written
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # unexpanded, like env
    inherit_env: bool = False  # built-ins are the studio's own code and see its whole environment


@dataclass(frozen=True)
class McpConfig:
    """The servers and scorers one studio may use; `path` is None when no file was given."""

    path: Path | None
    servers: dict[str, ServerConfig]
    scorers: dict[str, dict] = field(default_factory=dict)


class _Server(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["stdio", "http", "streamable-http"] | None = None
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}


class _Scorer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    module: str
    function: str


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    mcpServers: dict[str, _Server] = {}  # the standard file's spelling
    scorers: dict[str, _Scorer] = {}


def builtin_servers() -> dict[str, ServerConfig]:
    """The studio's own tool servers, always declared."""
    return {
        name: ServerConfig(
            name=name,
            command=sys.executable,
            args=("-m", f"studio.tools.servers.{name}"),
            cwd=str(ROOT),
            inherit_env=True,
        )
        for name in BUILTIN
    }


def load_config(path: Path | None) -> McpConfig:
    """The built-in servers plus those of the file at `path` (a user server may replace a built-in)."""
    servers = builtin_servers()
    if path is None:
        return McpConfig(path=None, servers=servers)
    parsed = _parse(path)
    for name, server in parsed.mcpServers.items():
        servers[name] = _server(path, name, server)
    scorers = {
        name: {"module": str(_resolve(path, scorer.module)), "function": scorer.function}
        for name, scorer in parsed.scorers.items()
    }
    return McpConfig(path=path, servers=servers, scorers=scorers)


def _parse(path: Path) -> _File:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise McpConfigError(f"{path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise McpConfigError(f"{path} line {exc.lineno}: {exc.msg} (column {exc.colno})") from exc
    try:
        return _File.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "top level"
        raise McpConfigError(f"{path}: {where}: {error['msg']}") from exc


def _server(path: Path, name: str, server: _Server) -> ServerConfig:
    where = f"{path}: mcpServers.{name}"
    if not _NAME.match(name):
        raise McpConfigError(f"{where}: a server name may use only letters, digits, '_' and '-'")
    if (server.command is None) == (server.url is None):
        raise McpConfigError(f"{where}: give either `command` (a program to start) or `url` (a running server)")
    if server.type == "stdio" and server.command is None:
        raise McpConfigError(f"{where}: type stdio needs `command`")
    if server.type in ("http", "streamable-http") and server.url is None:
        raise McpConfigError(f"{where}: type {server.type} needs `url`")
    if server.url is not None and (server.args or server.env or server.cwd):
        raise McpConfigError(f"{where}: `args`, `env` and `cwd` are for a `command`, not a `url`")
    if server.command is not None and server.headers:
        raise McpConfigError(f"{where}: `headers` are for a `url`, not a `command`")
    if server.url is not None and not server.url.startswith(("http://", "https://")):
        raise McpConfigError(f"{where}: url must start with http:// or https://, got {server.url!r}")
    cwd = str(_resolve(path, server.cwd)) if server.cwd is not None else None
    return ServerConfig(
        name=name,
        command=server.command,
        args=tuple(server.args),
        env=dict(server.env),
        cwd=cwd,
        url=server.url,
        headers=dict(server.headers),
    )


def _resolve(config: Path, value: str) -> Path:
    """A path in the config file, relative to the file's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (config.parent / p).resolve()


def expand(value: str, server_name: str) -> str:
    """`value` with each `${VAR}` replaced from the environment; called only as the server starts."""

    def sub(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in os.environ:
            raise McpConfigError(f"MCP server `{server_name}`: environment variable {var} is not set")
        return os.environ[var]

    return _REF.sub(sub, value)


def child_env(server: ServerConfig) -> dict[str, str]:
    """Variables the server's process gets on top of the SDK's safe defaults (PATH, HOME, ...)."""
    env = dict(os.environ) if server.inherit_env else {}
    env.update({key: expand(value, server.name) for key, value in server.env.items()})
    return env


def http_headers(server: ServerConfig) -> dict[str, str]:
    """The server's HTTP headers with their `${VAR}` references expanded."""
    return {key: expand(value, server.name) for key, value in server.headers.items()}


def config_path(store_path: Path | None) -> Path | None:
    """`STUDIO_MCP_CONFIG` if set, else `mcp.json` beside the store file if there is one."""
    chosen = os.environ.get(ENV_VAR)
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise McpConfigError(f"{ENV_VAR}={chosen}: no such file")
        return path
    if store_path is not None:
        beside = Path(store_path).parent / FILE_NAME
        if beside.is_file():
            return beside
    return None


def active_config(store_path: Path | None) -> McpConfig:
    """The config this studio runs with."""
    return load_config(config_path(store_path))
