// Internal to the CUDA backend: launch shapes for grid-stride elementwise kernels. Device code only
// (the launcher is elementwise_launch.cuh), so the emulated GPU of the CPU tests can include it.
#pragma once
#include <algorithm>
#include <cstdint>

namespace cxrl {

constexpr int kElementwiseThreads = 256;

inline unsigned elementwise_blocks(int64_t n) {
  return (unsigned)std::max<int64_t>(1, std::min<int64_t>((n + kElementwiseThreads - 1) / kElementwiseThreads, 65536));
}

#define CXRL_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

}  // namespace cxrl
