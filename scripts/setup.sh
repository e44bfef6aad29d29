#!/usr/bin/env bash
# One-command set-up on a fresh Debian 12 machine (as root, or with sudo):
#   system packages (compiler, CMake, OpenBLAS; python3-torch + numpy for the reference tests),
#   npm dependencies (onnxruntime-node without its CUDA download), the native addon (cmake-js;
#   CUDA kernels too when nvcc is on PATH) and the TypeScript build.
# CXRL_SKIP_TEST_DEPS=1 leaves out python3-torch/numpy (only the tests need them).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake libopenblas-dev pkg-config clang-format)
[ "${CXRL_SKIP_TEST_DEPS:-0}" = 1 ] || pkgs+=(python3-torch python3-numpy python3-scipy python3-skimage python3-sklearn)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node's postinstall would download CUDA provider libraries; this machine is offline
# apart from the registries, and the CPU provider ships in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npm run build
node bin/cxrl-native info
