"""The local search as an MCP server: the same observations as the studio's own search tool."""

from studio.recipe.schema import Tool
from studio.tools.search import EMPTY, Search
from tests.support.mcp_stdio import talk, text

QUERIES = ["Scott Derrickson nationality", "Badr  Hari\tkickboxer", "Ed Wood", "qqqzzzxx", "the of and"]


def test_search_server_answers_as_the_builtin_tool():
    session = talk("studio.tools.servers.search", calls=[("search", {"query": q}) for q in QUERIES])
    assert session.server.name == "fireact-search" and session.server.version
    (tool,) = session.tools
    assert tool.name == "search" and tool.input_schema["required"] == ["query"]
    builtin = Search(Tool())
    assert [text(r) for r in session.results] == [builtin(q) for q in QUERIES]
    assert not any(r.is_error for r in session.results) and text(session.results[-1]) == EMPTY


def test_search_server_top_k():
    session = talk("studio.tools.servers.search", "--top-k", "3", calls=[("search", {"query": QUERIES[0]})])
    assert text(session.results[0]) == Search(Tool(top_k=3))(QUERIES[0])
    assert text(session.results[0]).count("\n") == 2
