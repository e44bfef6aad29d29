// Scaled dot-product multi-head attention on already-projected q, k, v.
// q [B, Lq, H*d], k and v [B, Lk, H*d]; optional key mask [B, Lk] (nonzero = attend).
// The forward keeps the softmax probabilities [B, H, Lq, Lk] for the backward.
#pragma once
#include "core/tensor.h"

namespace cxrl {

struct AttentionCache {
  Tensor probs;
};

// cache: where the probabilities are kept for attention_backward; null (inference) computes the
// same output without ever holding the full [B, H, Lq, Lk] matrix.
Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const Tensor* key_mask,
                         AttentionCache* cache);

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const AttentionCache& cache,
                        const Tensor& gy, Tensor* gq, Tensor* gk, Tensor* gv);

}  // namespace cxrl
