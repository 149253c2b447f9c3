"""The one root of the studio's expected failures: errors whose message is the whole story.

Every module's own error (recipe, store, stage, data file, llama.cpp, search, teacher backend) derives
from `StudioError`, so the command line and the job queue turn any of them into one clear line, and a
traceback always means a bug.
"""

from __future__ import annotations


class StudioError(Exception):
    """A failure the user can act on; the message names what is wrong and what to do."""


class Cancelled(Exception):
    """A stage stopped because its job was cancelled; what it finished is stored."""


def os_error_message(exc: OSError) -> str:
    """`path: reason` for a file the studio could not read or write."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason
