// A CPU stand-in for the CUDA names kernel code uses, so that kernels run in the CPU test suite (and
// in CI, which has no GPU): the language's keywords and built-in variables, barriers, warp shuffles,
// atomics and math here; how a block's threads run (fibers, or OS threads under AddressSanitizer)
// in emulated_cuda/block_threads.h; launches, shared memory and CXRL_LAUNCH in
// emulated_cuda/launch.h; bfloat16 and WMMA in emulated_cuda/cuda_bf16.h and mma.h (a fragment holds
// the whole 16 x 16 tile, lane 0 does the warp's work, every *_sync call converges the warp, and the
// API's alignment rules are checked). Static __shared__ arrays become function statics (one block
// runs at a time); the dynamic buffer (CXRL_DYNAMIC_SHARED, cuda/shared_memory.cuh) is NaN-filled
// before each block, so a read of shared memory nothing wrote shows in the results.
//
// What it checks: the kernels' arithmetic, indexing, tiling, masking and synchronisation. What it
// cannot: timing, occupancy, register limits, or a hardware behaviour the documentation does not
// describe.
#pragma once
#define CXRL_CUDA_EMULATION 1
// Fibers run a block's threads unless AddressSanitizer is on, which does not follow stack
// switches; there each GPU thread is an OS thread with futex barriers.
#if !defined(__SANITIZE_ADDRESS__)
#define CXRL_EMULATION_FIBERS 1
#endif

#include <cmath>
#include <mutex>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define CXRL_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(cxrl::emulation::dynamic_shared())

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

#include "tests/emulated_cuda/launch.h"

inline void __syncthreads() { cxrl::emulation::block_barrier(); }
inline void __syncwarp(unsigned = 0xffffffffu) { cxrl::emulation::warp_barrier(); }
namespace cxrl::emulation {
// The value of lane source_lane(lane) of this thread's warp (every lane takes part).
template <typename T, typename SourceLane>
T shuffle(T v, SourceLane source_lane) {
  auto& slots = current_block()->shuffle;
  const int t = (int)threadIdx.x, base = t - t % 32, src = source_lane(t % 32);
  slots[t] = (double)v;
  warp_barrier();
  const T other = (T)slots[base + (src < 32 ? src : t % 32)];  // past the warp: its own value
  warp_barrier();
  return other;
}
}  // namespace cxrl::emulation
template <typename T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  return cxrl::emulation::shuffle(v, [&](int lane) { return lane ^ lane_mask; });
}
template <typename T>
T __shfl_down_sync(unsigned, T v, unsigned delta) {
  return cxrl::emulation::shuffle(v, [&](int lane) { return lane + (int)delta; });
}
inline float atomicAdd(float* address, float v) {
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  const float old = *address;
  *address = old + v;
  return old;
}
inline float __expf(float x) { return std::exp(x); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
template <typename T>
T min(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
T max(T a, T b) {
  return a < b ? b : a;
}

#include "tests/emulated_cuda/cuda_bf16.h"
#include "tests/emulated_cuda/cuda_pipeline.h"
#include "tests/emulated_cuda/mma.h"
