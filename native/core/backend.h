// Device backends, registered at run time. A backend serves one Device: its memory (this file's
// DeviceBackend) and the op tables other layers look up through DeviceRegistry (ops/device_ops.h,
// rl/device_kernels.h). The CPU needs no backend. Builds with nvcc register the CUDA backend on first
// lookup (register_builtin_backends); whether it can run is then a run-time question (status()).
#pragma once
#include <array>
#include <atomic>
#include <string>

#include "core/device.h"

namespace cxrl {

struct DeviceStatus {
  bool compiled = false;  // a backend for the device is in this build
  bool usable = false;    // and a device can be used now
  int device_count = 0;
  std::string device_name;
  std::string reason;  // why not usable, in words
  int runtime_version = 0;
};

struct DeviceMemory {
  int64_t bytes_in_use = 0, peak_bytes_in_use = 0, bytes_cached = 0, device_mallocs = 0;
};

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  // The same answer on every call (asked once: the driver's answer does not change while the
  // process runs), so that the per-allocation check in require_backend costs no copy.
  virtual const DeviceStatus& status() const = 0;
  virtual std::unique_ptr<DeviceStorage> allocate(int64_t n) const = 0;  // values undefined
  virtual void upload(DeviceStorage& dst, const float* src, int64_t n) const = 0;
  virtual void download(float* dst, const DeviceStorage& src, int64_t n) const = 0;
  virtual void fill(DeviceStorage& dst, float value, int64_t n) const = 0;
  // What the backend's allocator holds (peak since the last reset_peak_memory).
  virtual DeviceMemory memory() const = 0;
  virtual void reset_peak_memory() const = 0;
  // n values from src[src_offset] to dst[dst_offset], on the device.
  virtual void copy(DeviceStorage& dst, int64_t dst_offset, const DeviceStorage& src, int64_t src_offset,
                    int64_t n) const = 0;
};

// Registers the backends compiled into this build (the CUDA one when built with nvcc). Idempotent;
// every lookup calls it first.
void register_builtin_backends();

// One table of type Table per device: installed by a backend's registration, found by the layer
// that dispatches to it.
template <typename Table>
class DeviceRegistry {
 public:
  // Every op on a device looks its table up: one atomic load once the built-ins are registered.
  static const Table* find(Device d) {
    register_builtin_backends();
    return slots()[static_cast<int>(d)].load(std::memory_order_acquire);
  }
  // For the built-in registration (register_builtin_backends) only.
  static void install(Device d, const Table* table) {
    slots()[static_cast<int>(d)].store(table, std::memory_order_release);
  }
  // Swaps in another table (tests: an emulated device) after the built-in ones are registered, so
  // they cannot overwrite it later; returns the previous table to put back.
  static const Table* replace(Device d, const Table* table) {
    register_builtin_backends();
    return slots()[static_cast<int>(d)].exchange(table, std::memory_order_acq_rel);
  }

 private:
  static std::array<std::atomic<const Table*>, kDeviceCount>& slots() {
    static std::array<std::atomic<const Table*>, kDeviceCount> s{};
    return s;
  }
};

// The memory backend of d; throws std::runtime_error saying why when d has none in this build or
// its device cannot be used (no driver, no GPU).
const DeviceBackend& require_backend(Device d);
// What a device can do here: for the CPU always usable; for others the backend's status, or
// "not compiled in" when the build has none.
DeviceStatus device_status(Device d);

}  // namespace cxrl
