#!/usr/bin/env bash
# Builds the C++ engine tests with AddressSanitizer + UBSan (CPU only, built-in GEMM and OpenBLAS
# both exercised) and runs them. Catches out-of-bounds access, use-after-free and leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-sanitize
cmake -S . -B "$dir" -DCXRL_SANITIZE=ON -DCXRL_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" --target cxrl_engine_tests -j"$(nproc)" >/dev/null
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
echo "=== C++ engine tests under ASan/UBSan, builtin GEMM ==="
CXRL_GEMM=builtin "$dir/tests/cxrl_engine_tests"
echo "=== C++ engine tests under ASan/UBSan, default GEMM ==="
"$dir/tests/cxrl_engine_tests"
