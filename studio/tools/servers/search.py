"""The built-in local search as an MCP server over stdio: `python -m studio.tools.servers.search [--top-k N]`.

One tool, `search(query)`, answering exactly what the studio's own search tool answers with the local
BM25 backend and no noise (the same `Search` object does the work), so an agent sees the same
observations through MCP as without it.
"""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer

from studio.recipe.schema import Tool
from studio.tools.search import Search
from studio.tools.servers import VERSION

DESCRIPTION = (
    "Searches an offline corpus of web snippets (Wikipedia among them) and returns the best matching passage "
    "(one per line when several), or None when nothing matches. Ask for an entity or a fact, "
    'e.g. "Scott Derrickson nationality".'
)


def build(top_k: int = 1) -> MCPServer:
    """A server whose `search` tool returns the top_k best passages of the bundled corpus."""
    server = MCPServer("fireact-search", version=VERSION)
    local = Search(Tool(backend="local", top_k=top_k))

    @server.tool(description=DESCRIPTION, structured_output=False)
    def search(query: str) -> str:
        """The observation the studio's own search tool gives for this query."""
        return local(query)

    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.tools.servers.search", description=__doc__.split("\n")[0])
    parser.add_argument("--top-k", type=int, default=1, choices=range(1, 11), metavar="N",
                        help="passages per search, 1 to 10 (default 1, as the paper's tool)")
    build(parser.parse_args(argv).top_k).run("stdio")


if __name__ == "__main__":
    main()
