#!/usr/bin/env bash
# `npm run test:cuda`: on a machine with an NVIDIA GPU, build the addon with CUDA, run the CUDA
# suite (kernels against their CPU twins) and the step benchmark with its bandwidth figures.
# Without a GPU it stops at once with a clear message (exit 2).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "test:cuda: no NVIDIA GPU found on this machine (nvidia-smi lists none); run it where one is." >&2
  exit 2
fi
nvidia-smi -L
if [ ! -d node_modules ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
npm run build
node bin/cxrl-native info
npx jest --config jest.cuda.config.js
node dist/bench/step-bench.js
