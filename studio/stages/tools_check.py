"""Before a run: can every tool the recipe names be offered? Each MCP server it uses is connected on its own and
listed, or its one-line failure is kept; `launch.py tools`, `validate`, `estimate` and the studio's tools check
all read this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.owner.config import active_config
from studio.recipe.schema import Recipe
from studio.stages.runs import StageError
from studio.tools.mcp_hub import check_servers
from studio.tools.tool import ToolSpec
from studio.tools.toolbox import ToolboxError, prefix_clashes, search_spec, server_specs


@dataclass
class ToolsCheck:
    """Each entry of the recipe's tool list: its label and the tools it offers, or why it cannot."""

    entries: list[tuple[str, list[ToolSpec] | str]]
    config: Path | None

    @property
    def failures(self) -> list[str]:
        return [f"{label}: {found}" for label, found in self.entries if isinstance(found, str)]

    @property
    def specs(self) -> list[ToolSpec]:
        """The tools as the agent would see them (names prefixed where two servers clash)."""
        return prefix_clashes([spec for _, found in self.entries if not isinstance(found, str) for spec in found])

    def raise_failures(self) -> None:
        """A recipe whose tools cannot all be offered does not start: one line per failing server."""
        if self.failures:
            raise StageError("\n".join(self.failures))


def check_tools(recipe: Recipe, store_path: Path | None = None, timeout_s: float = 30) -> ToolsCheck:
    """Connect to every MCP server the recipe uses (one at a time, each closed after) and list its tools."""
    config = active_config(store_path)
    servers = [use.mcp for use in recipe.tool_uses if use.mcp is not None]
    found = check_servers(config, servers, timeout_s) if servers else {}
    entries: list[tuple[str, list[ToolSpec] | str]] = []
    for i, use in enumerate(recipe.tool_uses):
        label = f"tools[{i}] search" if use.search is not None else f"tools[{i}] mcp `{use.mcp}`"
        if recipe.tools is None:
            label = "tool (search)"
        if use.search is not None:
            entries.append((label, [search_spec(use)]))
        elif isinstance(found[use.mcp], str):
            entries.append((label, found[use.mcp]))
        else:
            try:
                entries.append((label, server_specs(use, found[use.mcp])))
            except ToolboxError as exc:
                entries.append((label, str(exc).removeprefix("tools: ")))
    return ToolsCheck(entries, config.path)
