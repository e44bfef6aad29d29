// Launches the fp32 flash attention kernels (attention_kernels.cuh), or hands the work to the
// tensor-core kernels (bf16) or the wide-head path.
#include <stdexcept>
#include <string>

#include "cuda/attention_kernels.cuh"
#include "cuda/attention_tensor_core.h"
#include "cuda/attention_wide.h"
#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

void check_shape(const AttentionShape& s) {
  if (s.B <= 0 || s.Lq <= 0 || s.Lk <= 0 || s.H <= 0 || s.d <= 0 || s.d > kMaxAttentionHeadDim)
    throw std::invalid_argument("attention (CUDA): head dim must be in [1, " + std::to_string(kMaxAttentionHeadDim) +
                                "] (wider heads have a forward only, for the VAE)");
}

// Dynamic shared memory of each kernel, in bytes (opted in above the 48 KiB default once).
template <typename Kernel>
void set_smem(Kernel kernel, size_t bytes) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes), "smem attribute");
}

}  // namespace

void attention_forward_device(const AttentionShape& s, const float* q, const float* k, const float* v,
                              const float* key_mask, float* out, float* lse) {
  if (s.d > kMaxAttentionHeadDim && s.B > 0 && s.Lq > 0 && s.Lk > 0 && s.H > 0)
    return attention_forward_wide_device(s, q, k, v, key_mask, out, lse);
  check_shape(s);
  if (attention_uses_tensor_cores(s)) return attention_forward_tensor_core(s, q, k, v, key_mask, out, lse);
  const size_t smem = forward_smem_bytes(s.d);
  set_smem(attention_forward_kernel, smem);
  const dim3 grid(row_blocks(s.Lq), (unsigned)(s.B * s.H));
  CXRL_LAUNCH(attention_forward_kernel, grid, kWarps * 32, smem)(s, q, k, v, key_mask, out, lse);
  check(cudaGetLastError(), "attention forward launch");
}

void attention_backward_device(const AttentionShape& s, const float* q, const float* k, const float* v,
                               const float* key_mask, const float* out, const float* lse, const float* gy, float* gq,
                               float* gk, float* gv) {
  check_shape(s);
  DeviceArray<float> delta((size_t)s.B * s.H * s.Lq);
  const int64_t rows = (int64_t)s.B * s.H * s.Lq;
  CXRL_LAUNCH(attention_delta_kernel, delta_blocks(rows), kDeltaThreads, 0)(s, out, gy, delta.data());
  if (attention_uses_tensor_cores(s))
    return attention_backward_tensor_core(s, q, k, v, key_mask, lse, delta.data(), gy, gq, gk, gv);
  const size_t smem_q = dq_smem_bytes(s.d);
  set_smem(attention_dq_kernel, smem_q);
  const dim3 grid_q(row_blocks(s.Lq), (unsigned)(s.B * s.H));
  CXRL_LAUNCH(attention_dq_kernel, grid_q, kWarps * 32, smem_q)(s, q, k, v, key_mask, gy, lse, delta.data(), gq);
  const size_t smem_kv = dkv_smem_bytes(s.d);
  set_smem(attention_dkv_kernel, smem_kv);
  const dim3 grid_kv(row_blocks(s.Lk), (unsigned)(s.B * s.H));
  CXRL_LAUNCH(attention_dkv_kernel, grid_kv, kWarps * 32, smem_kv)(s, q, k, v, key_mask, gy, lse, delta.data(), gk, gv);
  check(cudaGetLastError(), "attention backward launch");
}

}  // namespace cxrl
