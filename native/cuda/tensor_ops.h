// The CUDA backend's DeviceOps (ops/device_ops.h) and TrainingDeviceOps: tensor-level wrappers that read shapes,
// allocate outputs on the device and call the pointer-level twins of cuda/ops.h.
#pragma once
#include "model/training_device_ops.h"
#include "ops/device_ops.h"

namespace cxrl {

const DeviceOps& cuda_tensor_ops();
const TrainingDeviceOps& cuda_training_ops();

}  // namespace cxrl
