#!/usr/bin/env bash
# The CUDA backend's own tests (native/tests/cuda, what scripts/device-check.sh runs on a GPU), here
# on a machine without one: the backend's sources are compiled as C++ against an emulated runtime
# and GPU (CMake -DCXRL_EMULATE_CUDA=ON: native/tests/emulated_cuda, native/tests/cuda_emulation.h),
# with a stand-in cuBLAS and a 1-rank stand-in NCCL written from their API references. The tables,
# launchers, device storage, caching allocator, library loading and every kernel run as they would
# on the device, as CPU threads: this checks their logic, not their speed. Stable Diffusion-sized cases are left to the GPU run. Then the tiny
# UNet's forward and backward on the emulated GPU against the PyTorch reference (cxrl_unet_dump,
# scripts/unet_torch_parity.py; Debian's python3-torch on the CPU), as the GPU run does on the device;
# and the addon built on the same emulated backend runs the CUDA jest suite (test/cuda: the kernels
# through JavaScript, and generate and train --stage rl with --device cuda against --device cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-emulated
# cmake-js configures the folder (so the addon's target exists); a folder configured without it
# (an older version of this script) is made again.
grep -qs CMAKE_JS_VERSION "$dir/CMakeCache.txt" || rm -rf "$dir"
npx cmake-js configure --out "$dir" --CDCXRL_WITH_CUDA=OFF --CDCXRL_EMULATE_CUDA=ON >/dev/null
cmake --build "$dir" --target cxrl_cuda_tests cxrl_unet_dump cublas_emulated nccl_emulated cxrl_addon -j"$(nproc)" >/dev/null
export CXRL_CUBLAS_LIB="$PWD/$dir/tests/libcublas_emulated.so" CXRL_REQUIRE_CUBLAS=1
export CXRL_NCCL_LIB="$PWD/$dir/tests/libnccl_emulated.so" CXRL_REQUIRE_NCCL=1
echo "=== CUDA backend tests on the emulated GPU ==="
"$dir/tests/cxrl_cuda_tests"
echo "=== the UNet on the emulated GPU against PyTorch ==="
dump=$(mktemp -d)
trap 'rm -rf "$dump"' EXIT
"$dir/tests/cxrl_unet_dump" test/reference/tiny-unet-config.json "$dump" --device cuda
/usr/bin/python3 scripts/unet_torch_parity.py test/reference/tiny-unet-config.json "$dump"
echo "=== the CUDA jest suite through the addon on the emulated GPU ==="
CXRL_ADDON="$PWD/$dir/Release/cxrl_native.node" npx jest --config jest.cuda.config.js
