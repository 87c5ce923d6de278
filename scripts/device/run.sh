#!/usr/bin/env bash
# Runs on the GPU machine (device tool: run with carry [".device"], then this script). Read-only on the
# GPU: it never changes clocks, power limits or modes. Results go to $OUT (or .device/out).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-.device/out}"; mkdir -p "$OUT"
mkdir -p /tmp/node/bin && xz -dc .device/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node
export PATH=/tmp/node/bin:$PATH
node --version
nvidia-smi --query-gpu=index,name,driver_version,power.draw,power.limit --format=csv | tee "$OUT/nvidia-smi.csv"
PYTHONUNBUFFERED=1 python3 .device/gpu-check.py --bundle .device/bundle/inferwatt.mjs --out "$OUT" 2>&1 | tee "$OUT/log.txt"
