// A stand-in cuBLAS for the emulated CUDA build (libcublas_emulated.so, loaded through
// CXRL_CUBLAS_LIB like the real one): the six entry points the backend resolves
// (cuda/cublas_loader.cu), written from the cuBLAS API reference over host memory. Column-major,
// C = alpha op(A) op(B) + beta C (beta 0: C is not read); cublasGemmEx with compute type
// CUBLAS_COMPUTE_32F_FAST_16BF (75) rounds fp32 operands to bfloat16 first and accumulates in fp32;
// cublasGemmStridedBatchedEx is batchCount of those, operand i at A + i strideA (likewise B, C), and
// also takes bfloat16 operands (CUDA_R_16BF, widened exactly).
// So the backend's cuBLAS path (row-major to column-major operand swap, leading dimensions, the bf16
// compute type) runs in CI against this independent reading of the documented semantics.
#include <cstdint>
#include <cstring>

namespace {

constexpr int kSuccess = 0, kNotSupported = 15, kR32F = 0, kR16BF = 14, kCompute32F = 68, kComputeFast16BF = 75;

float round_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// A bfloat16 operand value (CUDA_R_16BF: the top 16 bits of a float).
float widen(const uint16_t* x, int64_t i) {
  const uint32_t u = (uint32_t)x[i] << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
float widen(const float* x, int64_t i) { return x[i]; }

template <typename T>
int gemm(int transa, int transb, int m, int n, int k, float alpha, const T* A, int lda, const T* B, int ldb, float beta,
         float* C, int ldc, bool bf16) {
  if (m < 0 || n < 0 || k < 0 || transa < 0 || transa > 1 || transb < 0 || transb > 1) return 7;  // invalid value
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float acc = 0.f;
      for (int p = 0; p < k; ++p) {
        float a = widen(A, transa ? p + (int64_t)i * lda : i + (int64_t)p * lda);
        float b = widen(B, transb ? j + (int64_t)p * ldb : p + (int64_t)j * ldb);
        if (bf16) a = round_to_bf16(a), b = round_to_bf16(b);
        acc += a * b;
      }
      float& c = C[i + (int64_t)j * ldc];
      c = beta == 0.f ? alpha * acc : alpha * acc + beta * c;
    }
  return kSuccess;
}

}  // namespace

extern "C" {

int cublasCreate_v2(void** handle) {
  *handle = reinterpret_cast<void*>(1);
  return kSuccess;
}
int cublasDestroy_v2(void*) { return kSuccess; }
int cublasSetStream_v2(void*, void*) { return kSuccess; }

int cublasSgemm_v2(void*, int transa, int transb, int m, int n, int k, const float* alpha, const float* A, int lda,
                   const float* B, int ldb, const float* beta, float* C, int ldc) {
  return gemm(transa, transb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc, false);
}

int cublasGemmEx(void*, int transa, int transb, int m, int n, int k, const void* alpha, const void* A, int a_type,
                 int lda, const void* B, int b_type, int ldb, const void* beta, void* C, int c_type, int ldc,
                 int compute_type, int /*algo*/) {
  if (a_type != kR32F || b_type != kR32F || c_type != kR32F) return kNotSupported;
  if (compute_type != kCompute32F && compute_type != kComputeFast16BF) return kNotSupported;
  return gemm(transa, transb, m, n, k, *static_cast<const float*>(alpha), static_cast<const float*>(A), lda,
              static_cast<const float*>(B), ldb, *static_cast<const float*>(beta), static_cast<float*>(C), ldc,
              compute_type == kComputeFast16BF);
}

// Operands CUDA_R_32F (compute 32F or 32F_FAST_16BF) or CUDA_R_16BF (compute 32F), C CUDA_R_32F.
int cublasGemmStridedBatchedEx(void*, int transa, int transb, int m, int n, int k, const void* alpha, const void* A,
                               int a_type, int lda, long long stride_a, const void* B, int b_type, int ldb,
                               long long stride_b, const void* beta, void* C, int c_type, int ldc, long long stride_c,
                               int batch_count, int compute_type, int /*algo*/) {
  if (a_type != b_type || (a_type != kR32F && a_type != kR16BF) || c_type != kR32F) return kNotSupported;
  if (compute_type != kCompute32F && (compute_type != kComputeFast16BF || a_type != kR32F)) return kNotSupported;
  if (batch_count < 0) return 7;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  for (int i = 0; i < batch_count; ++i) {
    float* c = static_cast<float*>(C) + i * stride_c;
    const int status =
        a_type == kR16BF
            ? gemm(transa, transb, m, n, k, a, static_cast<const uint16_t*>(A) + i * stride_a, lda,
                   static_cast<const uint16_t*>(B) + i * stride_b, ldb, b, c, ldc, false)
            : gemm(transa, transb, m, n, k, a, static_cast<const float*>(A) + i * stride_a, lda,
                   static_cast<const float*>(B) + i * stride_b, ldb, b, c, ldc, compute_type == kComputeFast16BF);
    if (status != kSuccess) return status;
  }
  return kSuccess;
}

}  // extern "C"
