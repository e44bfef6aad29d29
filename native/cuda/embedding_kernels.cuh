// Embedding lookup (text encoder token and position tables) and the sinusoidal timestep embedding
// on the device, twins of native/ops/lookup.cc and native/ops/embedding.cc: the kernels.
// embedding.cu launches them; a CPU test runs them on an emulated GPU
// (native/tests/test_emulated_embedding_optimizer.cc).
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/elementwise.cuh"

namespace cxrl {
namespace {

__global__ void lookup_kernel(const int32_t* ids, int64_t n, const float* table, int64_t D, float* y) {
  CXRL_GRID_STRIDE(i, n * D) y[i] = table[(int64_t)ids[i / D] * D + i % D];
}

// Repeated ids add into the same row: atomics, so the order of those sums is not fixed.
__global__ void lookup_backward_kernel(const int32_t* ids, int64_t n, const float* gy, int64_t D, float* gtable) {
  CXRL_GRID_STRIDE(i, n * D) atomicAdd(&gtable[(int64_t)ids[i / D] * D + i % D], gy[i]);
}

__global__ void timestep_kernel(const float* t, const float* freq, int64_t B, int dim, bool flip, float* y) {
  const int half = dim / 2;
  CXRL_GRID_STRIDE(i, B * dim) {
    const int64_t b = i / dim;
    const int j = (int)(i % dim);
    if (j >= 2 * half) {  // odd dim: the last column is zero
      y[i] = 0.f;
      continue;
    }
    const float ang = t[b] * freq[j % half];  // float32, as diffusers
    const bool first = j < half;
    y[i] = (first == flip) ? cosf(ang) : sinf(ang);
  }
}

}  // namespace
}  // namespace cxrl
