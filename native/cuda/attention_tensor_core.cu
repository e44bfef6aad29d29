// Launches the tensor-core flash attention kernels (attention_tensor_core_kernels.cuh) on operands
// staged once per call as head-major bf16.
#include <stdexcept>
#include <string>

#include "core/precision.h"
#include "cuda/attention_tensor_core.h"
#include "cuda/attention_tensor_core_kernels.cuh"
#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/elementwise_launch.cuh"
#include "cuda/launch.cuh"

namespace cxrl {
namespace {

template <typename Kernel>
void launch_config(Kernel kernel, size_t smem) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), "smem attribute");
}

dim3 grid_over(int64_t rows, const AttentionShape& s) { return dim3(row_blocks(rows), (unsigned)(s.B * s.H)); }

// A [B, L, H d] operand staged for the kernels: [B, H, padded_rows(L), dp] bf16.
DeviceArray<bf16> staged(const float* t, const AttentionShape& s, int64_t L) {
  DeviceArray<bf16> out((size_t)s.B * s.H * padded_rows(L) * padded_dim(s.d));
  launch_elementwise(to_head_major_bf16, (int64_t)out.size(), "attention operand staging", t, s, L, out.data());
  return out;
}

}  // namespace

bool attention_uses_tensor_cores(const AttentionShape& s) {
  return compute_precision() == ComputePrecision::kBf16 && s.d >= 1 && s.d <= kMaxTensorCoreHeadDim;
}

void attention_forward_tensor_core(const AttentionShape& s, const float* q, const float* k, const float* v,
                                   const float* key_mask, float* out, float* lse) {
  const size_t smem = ForwardSmem::size(padded_dim(s.d));
  launch_config(attention_forward_tc_kernel, smem);
  const DeviceArray<bf16> qs = staged(q, s, s.Lq), ks = staged(k, s, s.Lk), vs = staged(v, s, s.Lk);
  CXRL_LAUNCH(attention_forward_tc_kernel, grid_over(s.Lq, s), kWarps * 32, smem)
  (s, qs.data(), ks.data(), vs.data(), key_mask, out, lse);
  check(cudaGetLastError(), "tensor-core attention forward launch");
}

void attention_backward_tensor_core(const AttentionShape& s, const float* q, const float* k, const float* v,
                                    const float* key_mask, const float* lse, const float* delta, const float* gy,
                                    float* gq, float* gk, float* gv) {
  const int dp = padded_dim(s.d);
  const size_t smem_q = DqSmem::size(dp), smem_kv = DkvSmem::size(dp);
  const DeviceArray<bf16> qs = staged(q, s, s.Lq), ks = staged(k, s, s.Lk), vs = staged(v, s, s.Lk),
                          gs = staged(gy, s, s.Lq);
  launch_config(attention_dq_tc_kernel, smem_q);
  CXRL_LAUNCH(attention_dq_tc_kernel, grid_over(s.Lq, s), kWarps * 32, smem_q)
  (s, qs.data(), ks.data(), vs.data(), key_mask, gs.data(), lse, delta, gq);
  launch_config(attention_dkv_tc_kernel, smem_kv);
  CXRL_LAUNCH(attention_dkv_tc_kernel, grid_over(s.Lk, s), kWarps * 32, smem_kv)
  (s, qs.data(), ks.data(), vs.data(), key_mask, gs.data(), lse, delta, gk, gv);
  check(cudaGetLastError(), "tensor-core attention backward launch");
}

}  // namespace cxrl
