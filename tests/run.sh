#!/usr/bin/env bash
# The whole test suite on a fresh machine: makes the venv, installs what the tests need, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
# The llama.cpp server for the OpenAI-compatible tests: built from source once, then pip reuses its cached wheel.
.venv/bin/python -m pip install -q "llama-cpp-python[server]==0.3.36"
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
