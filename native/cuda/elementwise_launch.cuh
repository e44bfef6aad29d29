// Internal to the CUDA backend: the launchers every barrier-free elementwise kernel goes through
// (flat grid-stride, or over planes).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

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

// kernel over plane_grid(planes, per_plane) (elementwise.cuh), barrier-free, then the check.
template <typename... KernelArgs, typename... Args>
void launch_planes(void (*kernel)(KernelArgs...), int64_t planes, int64_t per_plane, const char* what, Args... args) {
  if (planes <= 0 || per_plane <= 0) return;
  if (per_plane > INT32_MAX) throw std::invalid_argument(std::string(what) + " (CUDA): a plane past 2^31 values");
  CXRL_LAUNCH_BARRIER_FREE(kernel, plane_grid(planes, per_plane), kElementwiseThreads, 0)(args...);
  check(cudaGetLastError(), what);
}

}  // namespace cxrl
