#include "ops/mse_loss.h"

#include "ops/device_ops.h"

namespace cxrl {

double mse_loss_forward(const Tensor& pred, const Tensor& target) {
  check_same_shape(pred, target, "mse_loss");
  if (pred.on_device()) return device_ops("mse_loss_forward", pred, {&target}).mse_loss_forward(pred, target);
  double s = 0;
  for (int64_t i = 0; i < pred.numel(); ++i) {
    const double d = (double)pred.v[i] - target.v[i];
    s += d * d;
  }
  return s / pred.numel();
}

Tensor mse_loss_backward(const Tensor& pred, const Tensor& target, float grad_loss) {
  check_same_shape(pred, target, "mse_loss");
  if (pred.on_device())
    return device_ops("mse_loss_backward", pred, {&target}).mse_loss_backward(pred, target, grad_loss);
  Tensor g(pred.shape);
  const float k = 2.f * grad_loss / pred.numel();
  for (int64_t i = 0; i < pred.numel(); ++i) g.v[i] = k * (pred.v[i] - target.v[i]);
  return g;
}

}  // namespace cxrl
