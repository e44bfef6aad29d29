// Attention for head dims above the flash kernels' limit (kMaxAttentionHeadDim): the VAE's
// single 512-wide head. Per (batch, head) pair: scores = scale Q K^T by GEMM, a masked row softmax
// in place (writing each row's log-sum-exp, as the flash forward does), then out = P V by GEMM.
// The [Lq, Lk] matrix of one pair is in memory at a time. Forward only (the VAE is not trained).
#include <cmath>

#include "cuda/attention_wide.h"
#include "cuda/block_reduce.cuh"
#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/gemm.h"

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

void attention_forward_wide_device(const AttentionShape& s, const float* q, const float* k, const float* v,
                                   const float* key_mask, float* out, float* lse) {
  const int HD = s.H * s.d;
  const float scale = 1.f / sqrtf((float)s.d);
  DeviceArray<float> P((size_t)s.Lq * s.Lk);
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.H; ++h) {
      const int64_t q0 = (int64_t)b * s.Lq * HD + (int64_t)h * s.d, k0 = (int64_t)b * s.Lk * HD + (int64_t)h * s.d;
      sgemm_device(false, true, (int)s.Lq, (int)s.Lk, s.d, scale, q + q0, HD, k + k0, HD, 0.f, P.data(), (int)s.Lk);
      masked_softmax_rows<<<(unsigned)s.Lq, kSoftmaxThreads>>>(P.data(), s.Lk, key_mask ? key_mask + b * s.Lk : nullptr,
                                                               lse + ((int64_t)b * s.H + h) * s.Lq);
      check(cudaGetLastError(), "attention softmax launch");
      sgemm_device(false, false, (int)s.Lq, s.d, (int)s.Lk, 1.f, P.data(), (int)s.Lk, v + k0, HD, 0.f, out + q0, HD);
    }
}

}  // namespace cxrl
