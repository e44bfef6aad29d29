// Helpers for the CUDA twin tests: move tensors to and from the device, and compare a device result
// with its CPU twin's (max abs difference over the reference's max abs value, printed and checked).
#pragma once
#include <string>

#include "core/tensor.h"
#include "cuda/device_memory.h"

namespace cxrl::test {

DeviceArray<float> on_device(const Tensor& t);
Tensor from_device(const DeviceArray<float>& d, const Shape& shape);
// Returns the relative error; fails the test when it is not below tol.
double expect_close(const std::string& label, const Tensor& got, const Tensor& ref, double tol);

}  // namespace cxrl::test
