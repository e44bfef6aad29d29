// Internal to the CUDA backend: the one launcher every grid-stride elementwise kernel goes through.
#pragma once
#include <cstdint>

#include "cuda/check.h"
#include "cuda/elementwise.cuh"
#include "cuda/launch.cuh"

namespace cxrl {

// kernel over blocks for n values of kElementwiseThreads threads (no barriers: grid-stride), then a
// launch-error check that names `what`.
template <typename... KernelArgs, typename... Args>
void launch_elementwise(void (*kernel)(KernelArgs...), int64_t n, const char* what, Args... args) {
  CXRL_LAUNCH_BARRIER_FREE(kernel, elementwise_blocks(n), kElementwiseThreads, 0)(args...);
  check(cudaGetLastError(), what);
}

}  // namespace cxrl
