// Row-major single-precision GEMM on device pointers, with the CPU sgemm's semantics:
// C = alpha * op(A) * op(B) + beta * C, op(A) M x K, op(B) K x N (C is not read when beta is 0).
// Two implementations chosen at run time: cuBLAS, loaded with dlopen when the machine has it (the
// build needs no cuBLAS), and a built-in shared-memory tiled kernel (the fallback and the reference).
#pragma once
#include <cuda_bf16.h>

#include <cstdint>
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

// A strided batch: product i uses A + i stride_a, B + i stride_b, C + i stride_c (a stride of 0
// shares the operand, e.g. one weight matrix for every image). At most kMaxGemmBatch products.
struct GemmBatch {
  int count = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};
constexpr int kMaxGemmBatch = 65535;

void sgemm_device(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc);
void sgemm_device_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                          const float* B, int ldb, float beta, float* C, int ldc);
// batch.count products in one call (cuBLAS's strided batched GEMM, or the built-in kernel's grid z).
void sgemm_batched_device(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                          const float* B, int ldb, float beta, float* C, int ldc, const GemmBatch& batch);
void sgemm_batched_device_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                                  const float* B, int ldb, float beta, float* C, int ldc, const GemmBatch& batch);
// The same with bfloat16 operands (already rounded by the caller, e.g. the convolution's column
// buffers, so they move half the bytes), fp32 accumulation and an fp32 C, whatever the precision
// setting; on the current backend.
void gemm_bf16_batched_device(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const __nv_bfloat16* A,
                              int lda, const __nv_bfloat16* B, int ldb, float beta, float* C, int ldc,
                              const GemmBatch& batch);

}  // namespace cxrl
