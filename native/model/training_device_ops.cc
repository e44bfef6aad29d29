#include "model/training_device_ops.h"

#include <stdexcept>
#include <string>

namespace cxrl {

const TrainingDeviceOps& training_device_ops(const Tensor& t, const char* what) {
  const TrainingDeviceOps* table = DeviceRegistry<TrainingDeviceOps>::find(t.device);
  if (!table)
    throw std::runtime_error(std::string(what) + ": no " + display_name(t.device) + " training ops in this build");
  return *table;
}

}  // namespace cxrl
