// Device memory for the CUDA backend: a caching allocator (freed blocks are kept by size class and
// handed out again, so a training loop stops calling cudaMalloc after its first step) and an owning
// typed buffer on top of it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace cxrl {

struct DeviceMemoryStats {
  size_t bytes_in_use = 0;  // handed out and not yet released
  size_t peak_bytes_in_use = 0;
  size_t bytes_cached = 0;     // held by the allocator, free for reuse
  int64_t device_mallocs = 0;  // cudaMalloc calls so far
  int64_t allocations = 0;     // allocate() calls so far
};

// Rounds requests up to a size class (256 B steps below 1 MiB, 2 MiB steps above), reuses a cached
// block of the same class, and on an out-of-memory error frees the whole cache and retries once.
void* device_allocate(size_t bytes);
void device_release(void* p);
void device_empty_cache();  // returns every cached block to the driver
DeviceMemoryStats device_memory_stats();
void device_reset_peak();

// An owning device array of n elements of T (uninitialised).
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t n) : n_(n), p_(n ? (T*)device_allocate(n * sizeof(T)) : nullptr) {}
  ~DeviceArray() { device_release(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : n_(o.n_), p_(o.p_) { o.n_ = 0, o.p_ = nullptr; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(n_, o.n_);
    std::swap(p_, o.p_);
    return *this;
  }
  T* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  size_t n_ = 0;
  T* p_ = nullptr;
};

// Host <-> device copies of whole arrays (synchronous; throw on error), and device -> device.
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);  // asynchronous on the default stream
template <typename T>
DeviceArray<T> to_device(const std::vector<T>& host) {
  DeviceArray<T> d(host.size());
  copy_to_device(d.data(), host.data(), host.size() * sizeof(T));
  return d;
}
template <typename T>
std::vector<T> to_host(const DeviceArray<T>& d) {
  std::vector<T> host(d.size());
  copy_to_host(host.data(), d.data(), d.size() * sizeof(T));
  return host;
}

}  // namespace cxrl
