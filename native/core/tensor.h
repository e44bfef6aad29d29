// A dense float32 tensor in row-major (C) order. The engine's single storage type on the CPU.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cxrl {

using Shape = std::vector<int64_t>;

inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s);

struct Tensor {
  Shape shape;
  std::vector<float> v;

  Tensor() = default;
  explicit Tensor(Shape s, float fill = 0.f) : shape(std::move(s)), v(shape_numel(shape), fill) {}
  Tensor(Shape s, std::vector<float> values);

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
