// Scaled dot-product multi-head attention on already-projected q, k, v.
// q [B, Lq, H*d], k and v [B, Lk, H*d]; optional key mask [B, Lk] (nonzero = attend).
// The forward keeps the softmax probabilities [B, H, Lq, Lk] for the backward.
#pragma once
#include "core/tensor.h"

namespace cxrl {

// What the backward needs. CPU: the probabilities. A device backend (flash attention) keeps instead
// the output, each query row's log-sum-exp [B, H, Lq] and the key mask, and recomputes probabilities.
struct AttentionCache {
  Tensor probs;
  Tensor out, lse, key_mask;
};

// cache: where the probabilities are kept for attention_backward; null (inference) computes the
// same output without ever holding the full [B, H, Lq, Lk] matrix.
Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const Tensor* key_mask,
                         AttentionCache* cache);

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const AttentionCache& cache,
                        const Tensor& gy, Tensor* gq, Tensor* gk, Tensor* gv);

}  // namespace cxrl
