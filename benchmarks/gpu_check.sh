#!/usr/bin/env bash
# Every CUDA check in one go, for a lent GPU machine (Python 3.12, torch, transformers, peft; no network).
# Needs the Unsloth bundle from shared/gpu unpacked: copy unsloth-site-py312-cu130.tar.gz into .gpu/ first.
# Output goes to $OUT (or ./gpu-results) as train_gpu.log, smoke.log and group_cuda.md (the worker through
# torchrun's one-rank group against the worker alone, Unsloth and PEFT: tokens/s and peak memory).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
mkdir -p "$out" /tmp/site
tar xzf .gpu/unsloth-site-py312-cu130.tar.gz -C /tmp/site --strip-components=1 site/
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 UNSLOTH_DISABLE_STATISTICS=1 UNSLOTH_OFFLINE=1 \
       UNSLOTH_COMPILE_LOCATION=/tmp/unsloth_compiled_cache PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
timeout "${TRAIN_TIMEOUT:-300}" python3 benchmarks/train_throughput.py --device cuda 2>&1 | tee "$out/train_gpu.log"
timeout "${SMOKE_TIMEOUT:-200}" python3 benchmarks/gpu_smoke.py > "$out/smoke.log" 2>&1
echo "smoke exit $?"; tail -25 "$out/smoke.log"
OUT="$out" timeout "${GROUP_TIMEOUT:-300}" python3 benchmarks/gpu_group.py > "$out/group.log" 2>&1
echo "group exit $?"; tail -12 "$out/group.log"
