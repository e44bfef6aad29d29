// Row-major single-precision GEMM on device pointers, with the CPU sgemm's semantics:
// C = alpha * op(A) * op(B) + beta * C, op(A) M x K, op(B) K x N (C is not read when beta is 0).
// Two implementations chosen at run time: cuBLAS, loaded with dlopen when the machine has it (the
// build needs no cuBLAS), and a built-in shared-memory tiled kernel (the fallback and the reference).
#pragma once
#include <string>

namespace cxrl {

enum class CudaGemmBackend { kBuiltin, kCublas };

// Where cuBLAS was found, or why not (tried: $CXRL_CUBLAS_LIB, the loader's search path, the CUDA
// install, the nvidia-cublas Python wheels).
bool cublas_available(std::string* where_or_why = nullptr);
// Default: cuBLAS when available, else built-in; $CXRL_CUDA_GEMM=builtin|cublas overrides.
CudaGemmBackend cuda_gemm_backend();
void set_cuda_gemm_backend(CudaGemmBackend b);  // throws if cuBLAS is asked for and missing
std::string cuda_gemm_backend_name();

void sgemm_device(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc);
void sgemm_device_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                          const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace cxrl
