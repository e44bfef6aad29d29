#include "core/backend.h"

#include <mutex>
#include <stdexcept>

namespace cxrl {

#ifdef CXRL_WITH_CUDA
void register_cuda_backend();  // native/cuda/backend.cu
#endif

void register_builtin_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef CXRL_WITH_CUDA
    register_cuda_backend();
#endif
  });
}

const char* device_name(Device d) { return d == Device::kCuda ? "cuda" : "cpu"; }

const char* display_name(Device d) { return d == Device::kCuda ? "CUDA" : "CPU"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  throw std::invalid_argument("unknown device '" + name + "' (expected cpu or cuda)");
}

DeviceStatus device_status(Device d) {
  DeviceStatus s;
  if (d == Device::kCpu) {
    s.compiled = s.usable = true;
    s.device_count = 1;
    s.device_name = "cpu";
    return s;
  }
  if (const DeviceBackend* b = DeviceRegistry<DeviceBackend>::find(d)) return b->status();
  s.reason = std::string("this build of the addon was compiled without ") + display_name(d) +
             " (no nvcc at build time); use --device cpu";
  return s;
}

const DeviceBackend& require_backend(Device d) {
  if (d == Device::kCpu) throw std::logic_error("the CPU has no device backend");
  const DeviceBackend* b = DeviceRegistry<DeviceBackend>::find(d);
  if (b && b->status().usable) return *b;
  throw std::runtime_error(std::string(display_name(d)) +
                           " is not usable: " + (b ? b->status() : device_status(d)).reason);
}

}  // namespace cxrl
