// Internal to the CUDA backend: the one launcher every grid-stride elementwise kernel goes through.
#pragma once
#include <cstdint>

#include "cuda/check.h"
#include "cuda/elementwise.cuh"

namespace cxrl {

// kernel<<<blocks for n values, kElementwiseThreads>>>(args...), then a launch-error check that
// names `what`.
template <typename... KernelArgs, typename... Args>
void launch_elementwise(void (*kernel)(KernelArgs...), int64_t n, const char* what, Args... args) {
  kernel<<<elementwise_blocks(n), kElementwiseThreads>>>(args...);
  check(cudaGetLastError(), what);
}

}  // namespace cxrl
