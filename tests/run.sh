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
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
