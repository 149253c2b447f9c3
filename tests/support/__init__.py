"""What the tests share that a fixture cannot be: constants, classes, and functions a test calls with its own
arguments (page drivers, seeders, scripted servers), beside the files the tests read (data/, mcp_servers/).

Fixtures (the state a test receives: stores, served studios, browsers, trained agents) live in the conftest.py of
the narrowest folder all their users share. Nothing here is a test module; it may import `studio` and `storage`,
never a test module or a conftest.
"""
