// The wide-head attention's row softmax (attention_wide.cu launches it between its two GEMMs; a CPU
// test runs it on an emulated GPU, native/tests/test_emulated_attention.cc).
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/block_reduce.cuh"

namespace cxrl {
namespace {

constexpr int kSoftmaxThreads = 256;

// One block per row of P: masked keys (mask 0) get probability 0; a row with every key masked
// becomes all zeros with log-sum-exp -inf (the flash forward's convention).
__global__ void masked_softmax_rows(float* P, int64_t Lk, const float* mask, float* lse) {
  float* p = P + (int64_t)blockIdx.x * Lk;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x)
    if (!mask || mask[j] != 0.f) m = fmaxf(m, p[j]);
  m = block_max(m);
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    const float e = (m == -INFINITY || (mask && mask[j] == 0.f)) ? 0.f : expf(p[j] - m);
    p[j] = e;
    sum += e;
  }
  sum = block_sum(sum);
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) p[j] *= inv;
  if (threadIdx.x == 0) lse[blockIdx.x] = sum > 0.f ? m + logf(sum) : -INFINITY;
}

}  // namespace
}  // namespace cxrl
