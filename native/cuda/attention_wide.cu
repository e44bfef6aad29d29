// Attention for head dims above the flash kernels' limit (kMaxAttentionHeadDim): the VAE's
// single 512-wide head. Per (batch, head) pair: scores = scale Q K^T by GEMM, a masked row softmax
// in place (writing each row's log-sum-exp, as the flash forward does), then out = P V by GEMM.
// The [Lq, Lk] matrix of one pair is in memory at a time. Forward only (the VAE is not trained).
#include <cmath>

#include "cuda/attention_wide.h"
#include "cuda/attention_wide_kernels.cuh"
#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"

namespace cxrl {

void attention_forward_wide_device(const AttentionShape& s, const float* q, const float* k, const float* v,
                                   const float* key_mask, float* out, float* lse) {
  const int HD = s.H * s.d;
  const float scale = 1.f / sqrtf((float)s.d);
  DeviceArray<float> P((size_t)s.Lq * s.Lk);
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.H; ++h) {
      const int64_t q0 = (int64_t)b * s.Lq * HD + (int64_t)h * s.d, k0 = (int64_t)b * s.Lk * HD + (int64_t)h * s.d;
      sgemm_device(false, true, (int)s.Lq, (int)s.Lk, s.d, scale, q + q0, HD, k + k0, HD, 0.f, P.data(), (int)s.Lk);
      CXRL_LAUNCH(masked_softmax_rows, (unsigned)s.Lq, kSoftmaxThreads, 0)
      (P.data(), s.Lk, key_mask ? key_mask + b * s.Lk : nullptr, lse + ((int64_t)b * s.H + h) * s.Lq);
      check(cudaGetLastError(), "attention softmax launch");
      sgemm_device(false, false, (int)s.Lq, s.d, (int)s.Lk, 1.f, P.data(), (int)s.Lk, v + k0, HD, 0.f, out + q0, HD);
    }
}

}  // namespace cxrl
