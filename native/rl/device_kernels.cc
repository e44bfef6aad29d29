#include "rl/device_kernels.h"

#include <stdexcept>

namespace cxrl {

const RlDeviceKernels& rl_device_kernels(Device d) {
  require_backend(d);  // says why the device cannot be used
  const RlDeviceKernels* k = DeviceRegistry<RlDeviceKernels>::find(d);
  if (!k) throw std::runtime_error(std::string("the ") + device_name(d) + " backend has no RL kernels");
  return *k;
}

}  // namespace cxrl
