#include "core/tensor.h"

#include <algorithm>
#include <sstream>

namespace cxrl {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

Tensor::Tensor(Shape s, const std::vector<float>& values) : shape(std::move(s)), v(values.begin(), values.end()) {
  if (shape_numel(shape) != static_cast<int64_t>(v.size()))
    throw std::invalid_argument("tensor shape " + shape_str(shape) + " does not match " + std::to_string(v.size()) +
                                " values");
}

void Tensor::zero() { std::fill(v.begin(), v.end(), 0.f); }

Tensor Tensor::reshaped(Shape s) const {
  if (shape_numel(s) != numel())
    throw std::invalid_argument("cannot reshape " + shape_str(shape) + " to " + shape_str(s));
  Tensor t;
  t.shape = std::move(s);
  t.v = v;
  return t;
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  if (a.shape != b.shape)
    throw std::invalid_argument(std::string(what) + ": shape " + shape_str(a.shape) + " vs " + shape_str(b.shape));
}

}  // namespace cxrl
