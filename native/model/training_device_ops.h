// The device half of the training updates that act on whole parameter sets: the Adam/AdamW step,
// the EMA shadow update, and the two halves of gradient-norm clipping. A backend registers one table
// (DeviceRegistry<TrainingDeviceOps>); adam_update, ema_update_tensor, grad_sum_squares and
// scale_grad hand tensors on that device to it, with the arithmetic of their CPU loops.
#pragma once
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "model/optimizer.h"

namespace cxrl {

struct TrainingDeviceOps {
  void (*adam_step)(const AdamStepScalars& k, Tensor* p, const Tensor& g, Tensor* m, Tensor* v);
  void (*ema_update)(Tensor* shadow, const Tensor& live, float decay);
  // The sum of squares over every value of several tensors, accumulated in double in a fixed order,
  // with one wait for the device (not one per tensor).
  double (*sum_squares)(const std::vector<const Tensor*>& ts);
  void (*scale)(Tensor* t, float s);  // t *= s
};

// The table of t's device; throws std::runtime_error naming `what` when that device has none.
const TrainingDeviceOps& training_device_ops(const Tensor& t, const char* what);

}  // namespace cxrl
