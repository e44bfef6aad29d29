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

// Kernels over `planes` planes of `per_plane` values each (an image channel, a row of a matrix):
// blocks along a plane on x and planes on y, so a value's plane comes from the grid (a grid-stride
// loop past 65535 planes) and its place in the plane is a 32-bit index: at most one 32-bit division
// per value where a flat index would need 64-bit ones (a long instruction sequence on a GPU). Planes
// of up to 2^31 values (launch_planes in elementwise_launch.cuh checks).
//
// Blocks along a plane: enough for its values, capped so that the grid has about kPlaneGridBlocks
// blocks (at least 64 per plane): few long planes (a channel concat of 8 images) still fill the GPU,
// many short ones do not launch idle blocks.
constexpr int64_t kPlaneGridBlocks = 8192;
inline dim3 plane_grid(int64_t planes, int64_t per_plane) {
  const int64_t y = std::max<int64_t>(1, std::min<int64_t>(planes, 65535));
  const int64_t needed = (per_plane + kElementwiseThreads - 1) / kElementwiseThreads;
  const int64_t x = std::min<int64_t>(needed, std::max<int64_t>(64, kPlaneGridBlocks / y));
  return dim3((unsigned)std::max<int64_t>(1, x), (unsigned)y);
}
#define CXRL_FOR_EACH_PLANE(p, planes) for (int64_t p = blockIdx.y; p < (planes); p += gridDim.y)
#define CXRL_PLANE_STRIDE(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += gridDim.x * blockDim.x)

}  // namespace cxrl
