// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C,
// op(A) is M x K, op(B) is K x N. Two implementations, selectable at run time:
// OpenBLAS (when the build found it) and a built-in blocked, threaded kernel.
#pragma once
#include <string>

namespace cxrl {

enum class GemmBackend { kBuiltin, kOpenBlas };

bool openblas_available();
GemmBackend gemm_backend();
// Throws if OpenBLAS is requested but was not compiled in.
void set_gemm_backend(GemmBackend b);
std::string gemm_backend_name();

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
           int ldb, float beta, float* C, int ldc);

// The built-in kernel, always present (the reference for the OpenBLAS path in tests).
void sgemm_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace cxrl
