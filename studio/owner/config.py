"""What the studio may reach, declared by whoever starts the studio, never by a recipe: the owner's config.

The file is the `mcpServers` format Claude Desktop and Cursor read, plus the studio's own sections:
`scorers` (Python scorers), `endpoints` (OpenAI-compatible servers with the variable holding each one's key),
`search` (the SerpAPI and Wikipedia endpoints), `models` (folders models may be loaded from, and whether Hugging
Face downloads are allowed) and `data` (folders a recipe's files may be read from). A recipe only names entries
of it, so a shared recipe can never make the studio run a program, send a secret elsewhere or read a file
outside. `${VAR}` references are expanded only when a server starts, so secrets are never stored in the config
object, the store or a log. `studio.owner.checks` holds the checks that keep a recipe inside it.
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
from studio.paths import DATA_DIR, RECIPES_DIR, ROOT, cache_dir, uploads_dir

ENV_VAR = "STUDIO_MCP_CONFIG"  # set by `--mcp-config`, so worker processes inherit the choice
FILE_NAME = "mcp.json"  # looked for beside the store file
BUILTIN = ("calculator", "search")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a variable's name: what a config or a recipe gives for a key
_REF = re.compile(r"\$\{([^}]*)\}")


OPENAI_URL = "https://api.openai.com/v1"
SERPAPI_URL = "https://serpapi.com/search.json"
WIKIPEDIA_URL = "https://en.wikipedia.org/w/api.php"


class OwnerConfigError(StudioError):
    """The owner's config file, or a variable it references, is wrong; the message names where."""


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
class Endpoint:
    """An OpenAI-compatible server (or fleet) the owner declared, with the one variable whose key it gets."""

    name: str
    base_url: tuple[str, ...]
    api_key_env: str | None = None  # None: the server needs no key, and none is sent
    models: tuple[str, ...] | None = None  # None: any model it serves


@dataclass(frozen=True)
class SearchEndpoint:
    """Where a remote search backend sends its requests, and the variable holding its key."""

    base_url: str
    api_key_env: str | None = None


DEFAULT_ENDPOINT = "openai"  # what a teacher or judge that names no endpoint and no URL reaches


def default_endpoints() -> dict[str, Endpoint]:
    """Declared unless the file redeclares it: OpenAI's own API with OPENAI_API_KEY."""
    return {DEFAULT_ENDPOINT: Endpoint(DEFAULT_ENDPOINT, (OPENAI_URL,), "OPENAI_API_KEY")}


def default_search() -> dict[str, SearchEndpoint]:
    return {"serpapi": SearchEndpoint(SERPAPI_URL, "SERPAPI_API_KEY"), "wikipedia": SearchEndpoint(WIKIPEDIA_URL)}


DATA_ROOTS_VAR = "STUDIO_DATA_ROOTS"  # more data folders, as `data.roots` declares them (os.pathsep between)


def default_data_roots(store_path: Path | None) -> tuple[Path, ...]:
    """The shipped data, the recipes folder, the uploads folder the studio writes into, and the folders the
    owner's environment names in STUDIO_DATA_ROOTS."""
    extra = [Path(p).expanduser().resolve() for p in os.environ.get(DATA_ROOTS_VAR, "").split(os.pathsep) if p]
    return DATA_DIR.resolve(), RECIPES_DIR.resolve(), uploads_dir(store_path).resolve(), *extra


@dataclass(frozen=True)
class OwnerConfig:
    """Everything one studio may reach; `path` is None when no file was given (the built-in defaults)."""

    path: Path | None
    servers: dict[str, ServerConfig]
    scorers: dict[str, dict] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=default_endpoints)
    search: dict[str, SearchEndpoint] = field(default_factory=default_search)
    model_roots: tuple[Path, ...] = field(default_factory=lambda: (cache_dir().resolve(),))
    allow_downloads: bool = False
    data_roots: tuple[Path, ...] = field(default_factory=lambda: default_data_roots(None))
    looked_for: Path | None = None  # where the studio looked for a config file when it found none

    @property
    def where(self) -> str:
        """How a message names this config: its file, or where one would be read."""
        if self.path:
            return str(self.path)
        beside = str(self.looked_for) if self.looked_for else f"{FILE_NAME} beside the database"
        return f"the studio's config (none found: it looks for {beside}, or the file ${ENV_VAR} names)"


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


class _Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    base_url: str | list[str]
    api_key_env: str | None = None
    models: list[str] | None = None


class _Search(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    base_url: str | None = None
    api_key_env: str | None = None


class _Models(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    roots: list[str] = []
    allow_downloads: bool = False


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    roots: list[str] = []


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    mcpServers: dict[str, _Server] = {}  # the standard file's spelling
    scorers: dict[str, _Scorer] = {}
    endpoints: dict[str, _Endpoint] = {}
    search: dict[Literal["serpapi", "wikipedia"], _Search] = {}
    models: _Models = _Models()
    data: _Data = _Data()


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


def load_config(path: Path | None, store_path: Path | None = None) -> OwnerConfig:
    """The built-in declarations plus those of the file at `path` (a declared server or endpoint may replace a
    built-in one; declared folders add to the defaults). `store_path` places the uploads folder."""
    servers = builtin_servers()
    data_roots = default_data_roots(store_path)
    if path is None:
        looked_for = Path(store_path).resolve().parent / FILE_NAME if store_path is not None else None
        return OwnerConfig(path=None, servers=servers, data_roots=data_roots, looked_for=looked_for)
    parsed = _parse(path)
    for name, server in parsed.mcpServers.items():
        servers[name] = _server(path, name, server)
    scorers = {
        name: {"module": str(_resolve(path, scorer.module)), "function": scorer.function}
        for name, scorer in parsed.scorers.items()
    }
    endpoints = default_endpoints() | {name: _endpoint(path, name, e) for name, e in parsed.endpoints.items()}
    search = default_search()
    for name, declared in parsed.search.items():
        where = f"{path}: search.{name}"
        if declared.base_url is not None:
            _check_url(where, declared.base_url)
        _check_env(where, declared.api_key_env)
        search[name] = SearchEndpoint(declared.base_url or search[name].base_url,
                                      declared.api_key_env or search[name].api_key_env)
    return OwnerConfig(
        path=path, servers=servers, scorers=scorers, endpoints=endpoints, search=search,
        model_roots=(cache_dir().resolve(), *(_resolve(path, r) for r in parsed.models.roots)),
        allow_downloads=parsed.models.allow_downloads,
        data_roots=(*data_roots, *(_resolve(path, r) for r in parsed.data.roots)),
    )


def _check_url(where: str, url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise OwnerConfigError(f"{where}: url must start with http:// or https://, got {url!r}")


def _check_env(where: str, name: str | None) -> None:
    if name is not None and not ENV_NAME.match(name):
        raise OwnerConfigError(f"{where}: api_key_env must be the NAME of an environment variable, never a key")


def _endpoint(path: Path, name: str, declared: _Endpoint) -> Endpoint:
    where = f"{path}: endpoints.{name}"
    if not _NAME.match(name):
        raise OwnerConfigError(f"{where}: an endpoint name may use only letters, digits, '_' and '-'")
    urls = [declared.base_url] if isinstance(declared.base_url, str) else declared.base_url
    if not urls:
        raise OwnerConfigError(f"{where}: base_url lists no server")
    for url in urls:
        _check_url(where, url)
    _check_env(where, declared.api_key_env)
    models = tuple(declared.models) if declared.models is not None else None
    return Endpoint(name, tuple(u.rstrip("/") for u in urls), declared.api_key_env, models)


def _parse(path: Path) -> _File:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OwnerConfigError(f"{path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OwnerConfigError(f"{path} line {exc.lineno}: {exc.msg} (column {exc.colno})") from exc
    try:
        return _File.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "top level"
        raise OwnerConfigError(f"{path}: {where}: {error['msg']}") from exc


def _server(path: Path, name: str, server: _Server) -> ServerConfig:
    where = f"{path}: mcpServers.{name}"
    if not _NAME.match(name):
        raise OwnerConfigError(f"{where}: a server name may use only letters, digits, '_' and '-'")
    if (server.command is None) == (server.url is None):
        raise OwnerConfigError(f"{where}: give either `command` (a program to start) or `url` (a running server)")
    if server.type == "stdio" and server.command is None:
        raise OwnerConfigError(f"{where}: type stdio needs `command`")
    if server.type in ("http", "streamable-http") and server.url is None:
        raise OwnerConfigError(f"{where}: type {server.type} needs `url`")
    if server.url is not None and (server.args or server.env or server.cwd):
        raise OwnerConfigError(f"{where}: `args`, `env` and `cwd` are for a `command`, not a `url`")
    if server.command is not None and server.headers:
        raise OwnerConfigError(f"{where}: `headers` are for a `url`, not a `command`")
    if server.url is not None:
        _check_url(where, server.url)
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
    """A path in the config file, relative to the file's folder, links resolved."""
    p = Path(value).expanduser()
    return (p if p.is_absolute() else config.parent / p).resolve()


def expand(value: str, server_name: str) -> str:
    """`value` with each `${VAR}` replaced from the environment; called only as the server starts."""

    def sub(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in os.environ:
            raise OwnerConfigError(f"MCP server `{server_name}`: environment variable {var} is not set")
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
            raise OwnerConfigError(f"{ENV_VAR}={chosen}: no such file")
        return path
    if store_path is not None:
        beside = Path(store_path).parent / FILE_NAME
        if beside.is_file():
            return beside
    return None


def active_config(store_path: Path | None) -> OwnerConfig:
    """The config this studio runs with (the store's folder places `mcp.json` and the uploads)."""
    return load_config(config_path(store_path), store_path)
