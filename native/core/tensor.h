// A dense float32 tensor in row-major (C) order: the engine's one tensor type. Its values live on
// the CPU (v) or on a device (storage, owned by that device's backend: core/backend.h). Ops dispatch
// on the device of their inputs (ops/device_ops.h); CPU code that reaches a device tensor's data()
// throws instead of reading memory it cannot see.
//
// Copies have value semantics on every device. On the CPU a copy copies. On a device a copy shares
// the storage until one side writes (copy on write): writers take mutable_device_data(), which
// clones a shared storage first. So a layer that keeps its input for the backward costs no device
// memory or copy while nothing writes to that input.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"

namespace cxrl {

using Shape = std::vector<int64_t>;

// std::allocator, except that resize() without a value leaves floats uninitialised: an op whose
// output it overwrites completely (a GEMM with beta 0, a pointwise map) need not zero it first.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using FloatStorage = std::vector<float, DefaultInitAllocator<float>>;

inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s);

struct Tensor {
  Shape shape;
  FloatStorage v;  // the values on the CPU; empty for a device tensor
  Device device = Device::kCpu;
  std::shared_ptr<DeviceStorage> storage;  // the values on `device`; null on the CPU (shared until written)

  Tensor() = default;
  explicit Tensor(Shape s, float fill = 0.f) : shape(std::move(s)), v(shape_numel(shape), fill) {}
  Tensor(Shape s, const std::vector<float>& values);
  Tensor(const Tensor&) = default;  // CPU values copied; device storage shared (copy on write)
  Tensor& operator=(const Tensor&) = default;
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  // For outputs that the op overwrites completely: the values start undefined.
  static Tensor uninitialized(Shape s) {
    Tensor t;
    t.shape = std::move(s);
    t.v.resize(shape_numel(t.shape));
    return t;
  }
  static Tensor uninitialized(Shape s, Device d);
  static Tensor zeros(Shape s, Device d);
  // This tensor's values on d (a copy, also when d is its own device).
  Tensor to(Device d) const;

  bool on_device() const { return device != Device::kCpu; }
  int64_t numel() const { return storage ? storage->size() : static_cast<int64_t>(v.size()); }
  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  // CPU values; throws std::logic_error for a device tensor.
  float* data() {
    if (storage) throw_not_on_cpu();
    return v.data();
  }
  const float* data() const {
    if (storage) throw_not_on_cpu();
    return v.data();
  }
  // Device values to read; throws std::logic_error for a CPU tensor.
  const float* device_data() const;
  // Device values to write: a storage shared with another tensor is cloned first.
  float* mutable_device_data();
  // Device values the caller overwrites entirely: a shared storage is replaced by a fresh one
  // instead of cloned (its old values are not needed).
  float* overwritten_device_data();
  bool empty() const { return numel() == 0; }
  void zero();
  // Same storage order, new shape with the same element count (a copy, on the same device).
  Tensor reshaped(Shape s) const;

 private:
  [[noreturn]] void throw_not_on_cpu() const;
};

// Throws std::invalid_argument with `what` and both shapes when they differ.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);

}  // namespace cxrl
