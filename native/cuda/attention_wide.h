// Internal to the CUDA backend: attention_forward_device's path for head dims above
// kMaxAttentionHeadDim (same inputs, outputs and conventions; see attention_wide.cu).
#pragma once
#include "cuda/ops.h"

namespace cxrl {

void attention_forward_wide_device(const AttentionShape& s, const float* q, const float* k, const float* v,
                                   const float* key_mask, float* out, float* lse);

}  // namespace cxrl
