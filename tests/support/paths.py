"""Where the tests' files are: the support files beside this module, and the public data beside the project (with
the mark for the tests that need it). The repository's own folders are `studio.paths`'."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.paths import ROOT

SUPPORT = Path(__file__).resolve().parent
DATA = SUPPORT / "data"
MCP_SERVERS = SUPPORT / "mcp_servers"
SHARED = ROOT.parent / "shared" / "datasets"
FINETUNE = SHARED / "fireact" / "data" / "finetune"
needs_shared = pytest.mark.skipif(not FINETUNE.exists(), reason="needs ../shared/datasets")
