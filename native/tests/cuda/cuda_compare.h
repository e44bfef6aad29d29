// Helpers for the CUDA twin tests: move tensors to and from the device, and compare a device result
// (or a whole model's parameters) with its CPU twin's (max abs difference over the reference's max abs value, printed
// and checked).
#pragma once
#include <string>

#include "core/tensor.h"
#include "cuda/device_memory.h"
#include "model/params.h"
#include "tests/harness.h"

namespace cxrl::test {

// True on the emulated GPU of the CXRL_EMULATE_CUDA build (CPU threads): whole-model cases at
// Stable Diffusion size would take hours there, and are left to the real device.
bool emulated_gpu();

// The bound for fp32 twins (issue 16: 1e-3 relative); they land near 1e-6.
constexpr double kFp32Tol = 1e-3;

DeviceArray<float> on_device(const Tensor& t);
Tensor from_device(const DeviceArray<float>& d, const Shape& shape);
// Prints and returns max_rel_error; fails the test when it is not below tol.
double expect_close(const std::string& label, const Tensor& got, const Tensor& ref, double tol);

// The float64 reference of a dense row-major GEMM, rounded to float into out [M, N]:
// alpha op(A) op(B) + beta C0 with op(A) M x K (A stored [K, M] when ta), op(B) K x N (B stored
// [N, K] when tb); C0 may be null when beta is 0.
void gemm_float64(bool ta, bool tb, int M, int N, int K, double alpha, const float* A, const float* B, double beta,
                  const float* C0, float* out);

enum class ParamPart { kValue, kGrad };
// kPerTensor: each tensor's max difference over its own largest value. kFloored: over its own largest
// value but at least kParamScaleFloor of the largest of any tensor (fd_check's floor): a gradient that
// is exactly zero in exact arithmetic, such as the bias of a convolution followed by a GroupNorm of
// one channel per group, is float noise on both sides, and its own scale means nothing. kGlobal: over
// the largest value of any tensor (bf16, whose rounding is far above that noise everywhere).
enum class ParamScale { kPerTensor, kFloored, kGlobal };
constexpr double kParamScaleFloor = 1e-2;
// The error of each trainable parameter's value or gradient in `got` (on any device) against the
// same-named one in `ref` (on the CPU): prints the worst with its name, fails the test unless it is
// below tol, and returns it.
double expect_params_close(const std::string& label, ParamStore& got, ParamStore& ref, ParamPart part, double tol,
                           ParamScale scale = ParamScale::kPerTensor);

}  // namespace cxrl::test
