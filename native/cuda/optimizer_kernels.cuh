// Adam/AdamW, EMA, the two halves of gradient clipping (sum of squares, scale), and zeroing and
// copying gradients on the device: the kernels. Each acts on a whole parameter set in one launch
// ("multi-tensor"): the host cuts every tensor into chunks of at most kChunkValues values
// (chunk_table), uploads the table, and block b updates chunk b. optimizer.cu launches them; a CPU
// test runs them on an emulated GPU (native/tests/test_emulated_embedding_optimizer.cc).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/block_reduce.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

constexpr int kChunkThreads = 256;
// Values per block: 1024 per thread. An SD-v1.x UNet's 860M parameters are about 3300 chunks, a
// table of about 130 KB per step.
constexpr int64_t kChunkValues = int64_t(1) << 18;

// Every tensor's arrays cut into slices of at most chunk_values values, in order (an empty tensor
// has none). Arrays is one of ops.h's *Arrays types (n and slice(start, n)).
template <typename Arrays>
std::vector<Arrays> chunk_table(const std::vector<Arrays>& tensors, int64_t chunk_values = kChunkValues) {
  std::vector<Arrays> chunks;
  for (const Arrays& t : tensors)
    for (int64_t start = 0; start < t.n; start += chunk_values)
      chunks.push_back(t.slice(start, t.n - start < chunk_values ? t.n - start : chunk_values));
  return chunks;
}

// The CPU step's arithmetic, element for element (native/model/optimizer.cc).
__global__ void adam_chunks(const AdamArrays* chunks, AdamStepScalars k) {
  const AdamArrays c = chunks[blockIdx.x];
  for (int64_t i = threadIdx.x; i < c.n; i += blockDim.x) {
    float gi = c.g[i], pi = c.p[i];
    if (k.decoupled)
      pi -= k.lr * k.weight_decay * pi;
    else
      gi += k.weight_decay * pi;
    const float mi = k.beta1 * c.m[i] + (1.f - k.beta1) * gi, vi = k.beta2 * c.v[i] + (1.f - k.beta2) * gi * gi;
    c.m[i] = mi;
    c.v[i] = vi;
    c.p[i] = pi - k.step_size * mi / (sqrtf(vi) * k.inv_sqrt_bc2 + k.eps);
  }
}

__global__ void ema_chunks(const EmaArrays* chunks, float keep, float take) {
  const EmaArrays c = chunks[blockIdx.x];
  for (int64_t i = threadIdx.x; i < c.n; i += blockDim.x) c.shadow[i] = keep * c.shadow[i] + take * c.live[i];
}

// partial[b] = the sum of squares of chunk b, in double; the host adds the partials in order, so the
// result does not depend on scheduling.
__global__ void sum_squares_chunks(const ConstArray* chunks, double* partial) {
  const ConstArray c = chunks[blockIdx.x];
  double acc = 0;
  for (int64_t i = threadIdx.x; i < c.n; i += blockDim.x) acc += (double)c.x[i] * c.x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void scale_chunks(const MutableArray* chunks, float s) {
  const MutableArray c = chunks[blockIdx.x];
  for (int64_t i = threadIdx.x; i < c.n; i += blockDim.x) c.x[i] *= s;
}

__global__ void zero_chunks(const MutableArray* chunks) {
  const MutableArray c = chunks[blockIdx.x];
  for (int64_t i = threadIdx.x; i < c.n; i += blockDim.x) c.x[i] = 0.f;  // not x * 0: NaN and inf too
}

__global__ void copy_scaled_chunks(const CopyArrays* chunks, float scale) {
  const CopyArrays c = chunks[blockIdx.x];
  for (int64_t i = threadIdx.x; i < c.n; i += blockDim.x) c.dst[i] = scale * c.src[i];
}

}  // namespace
}  // namespace cxrl
