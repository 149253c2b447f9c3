"""The owner's config as the Recipes tab shows it: which file is in use (or where the studio looks for one), the
servers, scorers and endpoints a recipe may name, and an example to copy. Read-only: the file stays the one place
servers are declared (whoever starts the studio edits it; a browser user never can), and each read is fresh, so
Reload shows an edit without a restart.

Imports the owner's config and the studio's state; nothing of the tabs."""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import urlsplit

from studio.app.views.state import Studio
from studio.errors import StudioError
from studio.owner.config import BUILTIN, ENV_VAR, FILE_NAME, ServerConfig

EXAMPLE = """{"mcpServers": {
   "geo":  {"command": "python", "args": ["geo_server.py"], "env": {"GEO_TOKEN": "${GEO_TOKEN}"}},
   "maps": {"url": "http://localhost:9000/mcp", "headers": {"Authorization": "Bearer ${MAPS_TOKEN}"}}},
 "scorers": {"units": {"module": "my_scorers.py", "function": "score"}}}"""


def _runs_as(server: ServerConfig) -> str:
    """How a server is reached, told without anything that may hold a secret: a program by its name alone (not
    its arguments or environment), a URL without its query or headers."""
    if server.name in BUILTIN:
        return "built in"
    if server.url:
        url = urlsplit(server.url)
        port = f":{url.port}" if url.port else ""
        return f"HTTP <code>{html.escape(f'{url.scheme}://{url.hostname}{port}{url.path}')}</code>"
    return f"a program, <code>{html.escape(Path(server.command or '').name)}</code> (stdio)"


def owner_config_html(studio: Studio) -> str:
    """The config in use as one HTML block: its file, every declared server with how it runs, the scorers and
    endpoints by name, then an example file; a config that does not load shows its error, naming the file."""
    e = html.escape
    try:
        config = studio.owner
    except StudioError as exc:
        return f'<div class="tools-check recipe-problems"><b>MCP config</b>: {e(str(exc))}</div>'
    where = (f"<code>{e(str(config.path))}</code>" if config.path else
             f"none found; the studio looks for <code>{e(str(config.looked_for or FILE_NAME))}</code>"
             f" (or the file <code>${ENV_VAR}</code> names)")
    servers = "".join(f"<li><code>{e(name)}</code>: {_runs_as(server)}</li>"
                      for name, server in sorted(config.servers.items()))
    names = {"Python scorers (<code>scorer: NAME</code>)": sorted(config.scorers),
             "endpoints (<code>endpoint: NAME</code>)": sorted(config.endpoints)}
    lists = "".join(f"<div>{label}: {', '.join(f'<code>{e(n)}</code>' for n in found) or 'none'}</div>"
                    for label, found in names.items())
    return (f'<div class="tools-check"><div><b>MCP config in use</b>: {where}</div>'
            f"<div><b>Servers a recipe can name</b> (<code>mcp: NAME</code>):<ul>{servers}</ul></div>{lists}"
            f"<div class=\"hint\">Declare a server in that file (whoever starts the studio edits it), then Reload; "
            f"<code>${{VAR}}</code> values are read from the environment when the server starts. An example:</div>"
            f"<pre><code>{e(EXAMPLE)}</code></pre></div>")
