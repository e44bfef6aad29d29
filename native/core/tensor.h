// A dense float32 tensor in row-major (C) order. The engine's single storage type on the CPU.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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
  FloatStorage v;

  Tensor() = default;
  explicit Tensor(Shape s, float fill = 0.f) : shape(std::move(s)), v(shape_numel(shape), fill) {}
  Tensor(Shape s, const std::vector<float>& values);
  // For outputs that the op overwrites completely: the values start undefined.
  static Tensor uninitialized(Shape s) {
    Tensor t;
    t.shape = std::move(s);
    t.v.resize(shape_numel(t.shape));
    return t;
  }

  int64_t numel() const { return static_cast<int64_t>(v.size()); }
  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  float* data() { return v.data(); }
  const float* data() const { return v.data(); }
  bool empty() const { return v.empty(); }
  void zero();
  // Same storage order, new shape with the same element count.
  Tensor reshaped(Shape s) const;
};

// Throws std::invalid_argument with `what` and both shapes when they differ.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);

}  // namespace cxrl
