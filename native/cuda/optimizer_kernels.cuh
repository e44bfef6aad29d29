// Adam/AdamW, EMA, and the two halves of gradient clipping (sum of squares, scale) on the device:
// the kernels. optimizer.cu launches them; a CPU test runs them on an emulated GPU
// (native/tests/test_emulated_embedding_optimizer.cc).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda/block_reduce.cuh"
#include "cuda/elementwise.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

// The CPU step's arithmetic, element for element (native/model/optimizer.cc).
__global__ void adam_kernel(AdamStepScalars k, float* p, const float* g, float* m, float* v, int64_t n) {
  CXRL_GRID_STRIDE(i, n) {
    float gi = g[i], pi = p[i];
    if (k.decoupled)
      pi -= k.lr * k.weight_decay * pi;
    else
      gi += k.weight_decay * pi;
    const float mi = k.beta1 * m[i] + (1.f - k.beta1) * gi, vi = k.beta2 * v[i] + (1.f - k.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - k.step_size * mi / (sqrtf(vi) * k.inv_sqrt_bc2 + k.eps);
  }
}

__global__ void ema_kernel(float* dst, const float* src, int64_t n, float keep, float take) {
  CXRL_GRID_STRIDE(i, n) dst[i] = keep * dst[i] + take * src[i];
}

constexpr int kReduceBlocks = 256;
inline unsigned sum_squares_blocks(int64_t n) {
  return (unsigned)std::max<int64_t>(
      1, std::min<int64_t>(kReduceBlocks, (n + kElementwiseThreads - 1) / kElementwiseThreads));
}

__global__ void sum_squares_partials(const float* x, int64_t n, double* partial) {
  double acc = 0;
  CXRL_GRID_STRIDE(i, n) acc += (double)x[i] * x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void scale_kernel(float* x, float s, int64_t n) { CXRL_GRID_STRIDE(i, n) x[i] *= s; }

}  // namespace
}  // namespace cxrl
