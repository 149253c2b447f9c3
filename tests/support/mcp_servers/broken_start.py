"""An MCP server that cannot start: it says why on stderr and exits 1."""

import sys

print("broken_start: cannot open the database", file=sys.stderr)
sys.exit(1)
