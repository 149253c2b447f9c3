"""The studio's own tools as MCP servers (stdio), so any MCP client, the studio's included, can call them.

Run one with `python -m studio.tools.servers.<name>`.
"""

# The version the servers announce: that of their tools' interface (names, arguments, output), not of the studio.
VERSION = "1.0.0"
