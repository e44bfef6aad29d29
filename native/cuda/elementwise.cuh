// Internal to the CUDA backend: launch shapes for grid-stride elementwise kernels, and the one
// launcher they all go through.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"

namespace cxrl {

constexpr int kElementwiseThreads = 256;

inline unsigned elementwise_blocks(int64_t n) {
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>((n + kElementwiseThreads - 1) / kElementwiseThreads, 65536));
}

// kernel<<<blocks for n values, kElementwiseThreads>>>(args...), then a launch-error check that
// names `what`.
template <typename... KernelArgs, typename... Args>
void launch_elementwise(void (*kernel)(KernelArgs...), int64_t n, const char* what, Args... args) {
  kernel<<<elementwise_blocks(n), kElementwiseThreads>>>(args...);
  check(cudaGetLastError(), what);
}

#define CXRL_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

}  // namespace cxrl
