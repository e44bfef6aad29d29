// Fully connected layer over the last dimension: y = x W^T + b, W [out, in] (PyTorch layout).
#pragma once
#include "core/tensor.h"

namespace cxrl {

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor* b);
// gx overwritten; gw, gb accumulated.
void linear_backward(const Tensor& x, const Tensor& w, const Tensor& gy, Tensor* gx, Tensor* gw, Tensor* gb);

}  // namespace cxrl
