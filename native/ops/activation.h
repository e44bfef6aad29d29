// Pointwise activations. GELU is the exact (erf) form, as in diffusers' GEGLU.
#pragma once
#include "core/tensor.h"

namespace cxrl {

Tensor silu_forward(const Tensor& x);
Tensor silu_backward(const Tensor& x, const Tensor& gy);

Tensor gelu_forward(const Tensor& x);
Tensor gelu_backward(const Tensor& x, const Tensor& gy);

// x [..., 2I] split into (hidden, gate) halves of the last dim; y [..., I] = hidden * gelu(gate).
Tensor geglu_forward(const Tensor& x);
Tensor geglu_backward(const Tensor& x, const Tensor& gy);

}  // namespace cxrl
