// GroupNorm over NC* tensors and LayerNorm over the last dimension, both with affine parameters.
// The forward saves per-group mean and reciprocal std for the backward.
#pragma once
#include "core/tensor.h"

namespace cxrl {

struct NormStats {
  Tensor mean, rstd;  // [rows]: one per normalised group / row, on the input's device
};

// x [B,C,...] -> y, groups of C/G channels; gamma, beta [C].
Tensor group_norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                          NormStats* stats);
// GroupNorm then SiLU in one pass (each group's rows are activated while still in cache): returns
// silu(group_norm(x)); the normalised values before the SiLU (what SiLU's backward needs) go to
// *pre_activation when it is not null.
Tensor group_norm_silu_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                               NormStats* stats, Tensor* pre_activation);
// gx overwritten; ggamma, gbeta accumulated.
void group_norm_backward(const Tensor& x, int groups, const Tensor& gamma, const NormStats& stats, const Tensor& gy,
                         Tensor* gx, Tensor* ggamma, Tensor* gbeta);

// x [..., D]; gamma, beta [D].
Tensor layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, NormStats* stats);
void layer_norm_backward(const Tensor& x, const Tensor& gamma, const NormStats& stats, const Tensor& gy, Tensor* gx,
                         Tensor* ggamma, Tensor* gbeta);

}  // namespace cxrl
