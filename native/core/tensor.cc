#include "core/tensor.h"

#include <algorithm>
#include <sstream>

#include "core/backend.h"

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

Tensor Tensor::uninitialized(Shape s, Device d) {
  if (d == Device::kCpu) return uninitialized(std::move(s));
  Tensor t;
  t.device = d;
  t.storage = require_backend(d).allocate(shape_numel(s));
  t.shape = std::move(s);
  return t;
}

Tensor Tensor::zeros(Shape s, Device d) {
  if (d == Device::kCpu) return Tensor(std::move(s));
  Tensor t = uninitialized(std::move(s), d);
  t.zero();
  return t;
}

Tensor Tensor::to(Device d) const {
  if (d == device) return *this;
  Tensor t = uninitialized(shape, d);
  if (d == Device::kCpu)
    require_backend(device).download(t.v.data(), *storage, numel());
  else if (device == Device::kCpu)
    require_backend(d).upload(*t.storage, v.data(), numel());
  else
    return to(Device::kCpu).to(d);
  return t;
}

const float* Tensor::device_data() const {
  if (!storage) throw std::logic_error("tensor " + shape_str(shape) + " is on the cpu, not on a device");
  return storage->data();
}

float* Tensor::mutable_device_data() {
  if (!storage) throw std::logic_error("tensor " + shape_str(shape) + " is on the cpu, not on a device");
  if (storage.use_count() > 1) storage = storage->clone();
  return storage->data();
}

void Tensor::throw_not_on_cpu() const {
  throw std::logic_error("CPU code reached a " + std::string(device_name(device)) + " tensor " + shape_str(shape) +
                         " (an op without a device twin, or a missing .to(cpu))");
}

float* Tensor::overwritten_device_data() {
  if (!storage) throw std::logic_error("tensor " + shape_str(shape) + " is on the cpu, not on a device");
  if (storage.use_count() > 1) storage = require_backend(device).allocate(numel());
  return storage->data();
}

void Tensor::zero() {
  if (storage) {
    overwritten_device_data();
    require_backend(device).fill(*storage, 0.f, numel());
  } else {
    std::fill(v.begin(), v.end(), 0.f);
  }
}

Tensor Tensor::reshaped(Shape s) const {
  if (shape_numel(s) != numel())
    throw std::invalid_argument("cannot reshape " + shape_str(shape) + " to " + shape_str(s));
  Tensor t(*this);
  t.shape = std::move(s);
  return t;
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  if (a.shape != b.shape)
    throw std::invalid_argument(std::string(what) + ": shape " + shape_str(a.shape) + " vs " + shape_str(b.shape));
}

}  // namespace cxrl
