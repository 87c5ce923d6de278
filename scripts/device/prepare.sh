#!/usr/bin/env bash
# Prepares what the GPU machine needs to run the real-hardware check (it has Python, PyTorch and
# nvidia-ml-py but no Node.js): a compressed Node binary and the agent's bundle, in .device/ (ignored).
# Then, from a session that has the device tool: run `bash scripts/device/run.sh` there, carrying .device.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .device && mkdir -p .device
node scripts/build-bundle.mjs --out .device/bundle >/dev/null
xz -T2 -6 -c "$(command -v node)" > .device/node.xz
cp scripts/device/gpu-check.py .device/
du -sh .device .device/* | sed 's/^/prepare: /'
