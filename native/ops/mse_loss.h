// Mean squared error over all elements, the pretraining loss; the backward returns
// grad_loss * d loss / d pred.
#pragma once
#include "core/tensor.h"

namespace cxrl {

double mse_loss_forward(const Tensor& pred, const Tensor& target);
Tensor mse_loss_backward(const Tensor& pred, const Tensor& target, float grad_loss);

}  // namespace cxrl
