// The engine's compute precision for matrix products on a device: fp32, or bf16 (inputs rounded to
// bfloat16 on the tensor cores, products accumulated in fp32, every tensor and the master weights
// kept in fp32). One setting per process, read by the device GEMMs (cuda/gemm.cu) and attention
// (bf16: the tensor-core kernels, cuda/attention_tensor_core.cu); the CPU backend
// computes in fp32 whatever the setting, so the TypeScript layer accepts bf16 only with --device cuda.
#pragma once
#include <string>

namespace cxrl {

enum class ComputePrecision { kFp32, kBf16 };

ComputePrecision compute_precision();
void set_compute_precision(ComputePrecision p);
const char* precision_name(ComputePrecision p);          // "fp32", "bf16"
ComputePrecision parse_precision(const std::string& s);  // throws std::invalid_argument naming the choices

}  // namespace cxrl
