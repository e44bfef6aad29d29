// Internal to the CUDA backend: block-wide reductions (warp shuffles, then one warp over the warps'
// partials). Every thread gets the result. blockDim.x must be a multiple of 32, at most 1024.
#pragma once

namespace cxrl {

template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T warp_partials[32];
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, off));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  __syncthreads();  // warp_partials may still be read from a previous call
  if (lane == 0) warp_partials[warp] = v;
  __syncthreads();
  T total = lane < warps ? warp_partials[lane] : identity;
  if (warp == 0)
    for (int off = 16; off > 0; off >>= 1) total = op(total, __shfl_down_sync(0xffffffffu, total, off));
  __shared__ T result;
  if (threadIdx.x == 0) result = total;
  __syncthreads();
  return result;
}

template <typename T>
__device__ T block_sum(T v) {
  return block_reduce(
      v, [](T a, T b) { return a + b; }, T(0));
}

__device__ inline float block_max(float v) {
  return block_reduce(
      v, [](float a, float b) { return fmaxf(a, b); }, -INFINITY);
}

}  // namespace cxrl
