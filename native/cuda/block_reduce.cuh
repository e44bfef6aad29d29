// Internal to the CUDA backend: a block-wide sum (warp shuffles, then one warp over the warps'
// partials). Every thread gets the result. blockDim.x must be a multiple of 32, at most 1024.
#pragma once

namespace cxrl {

template <typename T>
__device__ T block_sum(T v) {
  __shared__ T warp_sums[32];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  __syncthreads();  // warp_sums may still be read from a previous call
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  T total = lane < warps ? warp_sums[lane] : T(0);
  if (warp == 0)
    for (int off = 16; off > 0; off >>= 1) total += __shfl_down_sync(0xffffffffu, total, off);
  __shared__ T result;
  if (threadIdx.x == 0) result = total;
  __syncthreads();
  return result;
}

}  // namespace cxrl
