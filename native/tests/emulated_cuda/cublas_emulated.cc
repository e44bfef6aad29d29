// A stand-in cuBLAS for the emulated CUDA build (libcublas_emulated.so, loaded through
// CXRL_CUBLAS_LIB like the real one): the five entry points the backend resolves
// (cuda/cublas_loader.cu), written from the cuBLAS API reference over host memory. Column-major,
// C = alpha op(A) op(B) + beta C (beta 0: C is not read); cublasGemmEx with compute type
// CUBLAS_COMPUTE_32F_FAST_16BF (75) rounds fp32 operands to bfloat16 first and accumulates in fp32.
// So the backend's cuBLAS path (row-major to column-major operand swap, leading dimensions, the bf16
// compute type) runs in CI against this independent reading of the documented semantics.
#include <cstdint>
#include <cstring>

namespace {

constexpr int kSuccess = 0, kNotSupported = 15, kR32F = 0, kCompute32F = 68, kComputeFast16BF = 75;

float round_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

int gemm(int transa, int transb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
         float beta, float* C, int ldc, bool bf16) {
  if (m < 0 || n < 0 || k < 0 || transa < 0 || transa > 1 || transb < 0 || transb > 1) return 7;  // invalid value
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float acc = 0.f;
      for (int p = 0; p < k; ++p) {
        float a = transa ? A[p + (int64_t)i * lda] : A[i + (int64_t)p * lda];
        float b = transb ? B[j + (int64_t)p * ldb] : B[p + (int64_t)j * ldb];
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

}  // extern "C"
