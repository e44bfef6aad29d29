#!/usr/bin/env bash
# The CUDA backend's own tests (native/tests/cuda, what scripts/device-check.sh runs on a GPU), here
# on a machine without one: the backend's sources are compiled as C++ against an emulated runtime
# and GPU (CMake -DCXRL_EMULATE_CUDA=ON: native/tests/emulated_cuda, native/tests/cuda_emulation.h),
# with a stand-in cuBLAS written from its API reference. The tables, launchers, device storage,
# caching allocator and every kernel run as they would on the device, as CPU threads: this checks
# their logic, not their speed. Stable Diffusion-sized cases are left to the GPU run.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-emulated
cmake -S . -B "$dir" -DCXRL_WITH_CUDA=OFF -DCXRL_EMULATE_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir" --target cxrl_cuda_tests cublas_emulated -j"$(nproc)" >/dev/null
echo "=== CUDA backend tests on the emulated GPU ==="
CXRL_CUBLAS_LIB="$PWD/$dir/tests/libcublas_emulated.so" CXRL_REQUIRE_CUBLAS=1 "$dir/tests/cxrl_cuda_tests"
