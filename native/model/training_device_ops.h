// The device half of the training updates that act on whole parameter sets: the Adam/AdamW step,
// the EMA shadow update, the two halves of gradient-norm clipping, zeroing gradients, and copying
// them to and from one flat buffer. A backend registers one table (DeviceRegistry<TrainingDeviceOps>);
// adam_update, ema_update_tensors, grad_sum_squares, scale_grads, zero_grads and FlatGradients hand
// it all the tensors of a step at once (a GPU updates them in one launch), with the arithmetic of
// their CPU loops.
#pragma once
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "model/ema.h"
#include "model/optimizer.h"

namespace cxrl {

// dst's values [dst_offset, dst_offset + n) = scale * src's values [src_offset, src_offset + n).
struct SliceCopy {
  Tensor* dst;
  int64_t dst_offset;
  const Tensor* src;
  int64_t src_offset;
  int64_t n;
};

struct TrainingDeviceOps {
  void (*adam_step)(const AdamStepScalars& k, const std::vector<AdamTensors>& ts);
  void (*ema_update)(const std::vector<EmaTensors>& ts, float decay);
  // The sum of squares over every value of several tensors, accumulated in double in a fixed order,
  // with one wait for the device (not one per tensor).
  double (*sum_squares)(const std::vector<const Tensor*>& ts);
  void (*scale)(const std::vector<Tensor*>& ts, float s);  // t *= s for each
  void (*zero)(const std::vector<Tensor*>& ts);            // t = 0 for each
  void (*copy_scaled)(const std::vector<SliceCopy>& copies, float scale);
};

// The table of the one device every tensor of an update is on, or null when that is the CPU (or
// there are none): the caller then runs its CPU loop. Throws std::invalid_argument naming `what`
// when the tensors are on different devices, std::runtime_error when their device has no table.
const TrainingDeviceOps* training_device_ops(const std::vector<const Tensor*>& ts, const char* what);

}  // namespace cxrl
