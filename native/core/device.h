// Where a tensor's values live, and the storage a device backend provides for them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace cxrl {

enum class Device : uint8_t { kCpu, kCuda };
constexpr int kDeviceCount = 2;

const char* device_name(Device d);             // "cpu", "cuda" (the --device values)
const char* display_name(Device d);            // "CPU", "CUDA" (for messages)
Device parse_device(const std::string& name);  // the inverse; throws std::invalid_argument naming the choices

// The values of a tensor on a device other than the CPU: n floats at a device address, owned by the
// backend that allocated them (released by the destructor).
class DeviceStorage {
 public:
  virtual ~DeviceStorage() = default;
  virtual float* data() const = 0;
  virtual int64_t size() const = 0;
  // A device-side copy of the values (Tensor's copy constructor).
  virtual std::unique_ptr<DeviceStorage> clone() const = 0;
};

}  // namespace cxrl
