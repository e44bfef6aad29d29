#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <unordered_map>

#include "cuda/check.h"
#include "cuda/device_memory.h"

namespace cxrl {
namespace {

constexpr size_t kSmallStep = 256, kLargeStep = size_t(2) << 20, kSmallLimit = size_t(1) << 20;

size_t size_class(size_t bytes) {
  const size_t step = bytes < kSmallLimit ? kSmallStep : kLargeStep;
  return (bytes + step - 1) / step * step;
}

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // size class -> cached block
  std::unordered_map<void*, size_t> live;    // handed-out block -> its size class
  DeviceMemoryStats stats;

  void empty_locked() {
    for (auto& [bytes, p] : free_blocks) cudaFree(p);
    free_blocks.clear();
    stats.bytes_cached = 0;
  }
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: blocks may be released after static teardown
  return *c;
}

}  // namespace

void* device_allocate(size_t bytes) {
  Cache& c = cache();
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  std::lock_guard<std::mutex> lock(c.mu);
  ++c.stats.allocations;
  void* p = nullptr;
  auto it = c.free_blocks.find(cls);
  if (it != c.free_blocks.end()) {
    p = it->second;
    c.free_blocks.erase(it);
    c.stats.bytes_cached -= cls;
  } else {
    cudaError_t e = cudaMalloc(&p, cls);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      c.empty_locked();
      e = cudaMalloc(&p, cls);
    }
    check(e, "cudaMalloc");
    ++c.stats.device_mallocs;
  }
  c.live[p] = cls;
  c.stats.bytes_in_use += cls;
  if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
  return p;
}

void device_release(void* p) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(p);
  if (it == c.live.end()) throw std::logic_error("device_release: pointer not from device_allocate");
  c.free_blocks.emplace(it->second, p);
  c.stats.bytes_in_use -= it->second;
  c.stats.bytes_cached += it->second;
  c.live.erase(it);
}

void device_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.empty_locked();
}

DeviceMemoryStats device_memory_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void device_reset_peak() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy to device");
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy to host");
}

void copy_on_device(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice), "copy on device");
}

}  // namespace cxrl
