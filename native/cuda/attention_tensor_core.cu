// Launches the tensor-core flash attention kernels (attention_tensor_core_kernels.cuh) on operands
// staged once per call as head-major bf16, each kernel with two tile buffers where the device's
// shared memory per block allows (SD's head dims 40 and 80; 160's dK/dV kernel takes one).
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

// The device's opt-in shared memory per block (227 KiB on an H100/H200).
size_t shared_memory_limit() {
  static const size_t limit = [] {
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, 0), "device properties");
    return (size_t)prop.sharedMemPerBlockOptin;
  }();
  return limit;
}

// Launches kernel<2> or kernel<1> (tile buffers), whichever pipeline_stages picks for smem_size.
template <typename... Params, typename... Args>
void launch_staged(void (*one)(Params...), void (*two)(Params...), size_t (*smem_size)(int, int), dim3 grid, int dp,
                   const char* what, Args... args) {
  const int stages = pipeline_stages(smem_size, dp, shared_memory_limit());
  const size_t smem = smem_size(dp, stages);
  auto kernel = stages == 2 ? two : one;
  launch_config(kernel, smem);
  CXRL_LAUNCH(kernel, grid, kWarps * 32, smem)(args...);
  check(cudaGetLastError(), what);
}

dim3 grid_over(int64_t rows, const AttentionShape& s) { return dim3(row_blocks(rows), (unsigned)(s.B * s.H)); }

// A [B, L, H d] operand staged for the kernels: [B, H, padded_rows(L), dp] bf16.
DeviceArray<bf16> staged(const float* t, const AttentionShape& s, int64_t L) {
  DeviceArray<bf16> out((size_t)s.B * s.H * padded_rows(L) * padded_dim(s.d));
  launch_planes(to_head_major_bf16, (int64_t)s.B * s.H, padded_rows(L) * padded_dim(s.d), "attention operand staging",
                t, s, L, out.data());
  return out;
}

}  // namespace

bool attention_uses_tensor_cores(const AttentionShape& s) {
  return compute_precision() == ComputePrecision::kBf16 && s.d >= 1 && s.d <= kMaxTensorCoreHeadDim;
}

void attention_forward_tensor_core(const AttentionShape& s, const float* q, const float* k, const float* v,
                                   const float* key_mask, float* out, float* lse) {
  const DeviceArray<bf16> qs = staged(q, s, s.Lq), ks = staged(k, s, s.Lk), vs = staged(v, s, s.Lk);
  const bf16 *Q = qs.data(), *K = ks.data(), *V = vs.data();
  launch_staged(attention_forward_tc_kernel<1>, attention_forward_tc_kernel<2>, ForwardSmem::size, grid_over(s.Lq, s),
                padded_dim(s.d), "tensor-core attention forward launch", s, Q, K, V, key_mask, out, lse);
}

void attention_backward_tensor_core(const AttentionShape& s, const float* q, const float* k, const float* v,
                                    const float* key_mask, const float* lse, const float* delta, const float* gy,
                                    float* gq, float* gk, float* gv) {
  const int dp = padded_dim(s.d);
  const DeviceArray<bf16> qs = staged(q, s, s.Lq), ks = staged(k, s, s.Lk), vs = staged(v, s, s.Lk),
                          gs = staged(gy, s, s.Lq);
  const bf16 *Q = qs.data(), *K = ks.data(), *V = vs.data(), *G = gs.data();
  launch_staged(attention_dq_tc_kernel<1>, attention_dq_tc_kernel<2>, DqSmem::size, grid_over(s.Lq, s), dp,
                "tensor-core attention dQ launch", s, Q, K, V, key_mask, G, lse, delta, gq);
  launch_staged(attention_dkv_tc_kernel<1>, attention_dkv_tc_kernel<2>, DkvSmem::size, grid_over(s.Lk, s), dp,
                "tensor-core attention dK/dV launch", s, Q, K, V, key_mask, G, lse, delta, gk, gv);
}

}  // namespace cxrl
