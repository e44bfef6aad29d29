#include "ops/device_ops.h"

#include <stdexcept>
#include <string>

namespace cxrl {

const DeviceOps& device_ops(const char* op, const Tensor& x, std::initializer_list<const Tensor*> others) {
  for (const Tensor* t : others)
    if (t && t->device != x.device)
      throw std::invalid_argument(std::string(op) + ": tensors on different devices (" + device_name(x.device) +
                                  " and " + device_name(t->device) + ")");
  const DeviceOps* table = DeviceRegistry<DeviceOps>::find(x.device);
  if (!table)
    throw std::runtime_error(std::string(op) + ": no " + display_name(x.device) +
                             " ops in this build (it was compiled without nvcc)");
  return *table;
}

}  // namespace cxrl
