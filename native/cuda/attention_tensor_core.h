// Flash attention on the tensor cores, for bf16 compute (core/precision.h): the same interface,
// algorithm and outputs as the fp32 flash kernels in attention.cu (their on-device reference), with
// q, k, v and dO rounded to bfloat16 where they are staged and every product a WMMA 16x16x16 tile
// accumulated in fp32. The online softmax, the log-sum-exp, delta and all accumulators stay fp32.
#pragma once
#include "cuda/ops.h"

namespace cxrl {

// Head dims up to this take the tensor-core kernels under bf16 (SD's 40, 80 and 160); wider heads
// stay on the fp32 kernels, whose shared memory they fit.
constexpr int kMaxTensorCoreHeadDim = 160;

bool attention_uses_tensor_cores(const AttentionShape& s);

void attention_forward_tensor_core(const AttentionShape& s, const float* q, const float* k, const float* v,
                                   const float* key_mask, float* out, float* lse);
// delta [B, H, Lq]: each query row's sum_c dO O (computed by the caller, in fp32).
void attention_backward_tensor_core(const AttentionShape& s, const float* q, const float* k, const float* v,
                                    const float* key_mask, const float* lse, const float* delta, const float* gy,
                                    float* gq, float* gk, float* gv);

}  // namespace cxrl
