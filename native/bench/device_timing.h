// CUDA-event timing for the device benchmarks (ddim_step_bench.cu, bench/cuda/cuda_bench_main.cc):
// one warm-up call, then `iters` calls between two events on the default stream.
#pragma once
#include <cuda_runtime.h>

#include <functional>

#include "cuda/check.h"

namespace cxrl {

inline double device_seconds_per_call(const std::function<void()>& fn, int iters) {
  fn();
  check(cudaDeviceSynchronize(), "warm-up");
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaEventRecord(e0);
  for (int i = 0; i < iters; ++i) fn();
  cudaEventRecord(e1);
  check(cudaEventSynchronize(e1), "timing");
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return ms / 1e3 / iters;
}

}  // namespace cxrl
