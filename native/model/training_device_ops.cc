#include "model/training_device_ops.h"

#include <stdexcept>
#include <string>

namespace cxrl {

const TrainingDeviceOps* training_device_ops(const std::vector<const Tensor*>& ts, const char* what) {
  if (ts.empty()) return nullptr;
  const Device d = ts.front()->device;
  for (const Tensor* t : ts)
    if (t->device != d)
      throw std::invalid_argument(std::string(what) + ": tensors on " + display_name(d) + " and " +
                                  display_name(t->device) + " in one update");
  if (d == Device::kCpu) return nullptr;
  const TrainingDeviceOps* table = DeviceRegistry<TrainingDeviceOps>::find(d);
  if (!table) throw std::runtime_error(std::string(what) + ": no " + display_name(d) + " training ops in this build");
  return table;
}

}  // namespace cxrl
