// cuBLAS at run time: the toolkit on the build machines has no cuBLAS, so the few entry points the
// backend uses are declared here (from the cuBLAS API reference) and resolved with dlopen/dlsym.
#pragma once
#include <cuda_runtime.h>

#include <string>

namespace cxrl {

struct CublasApi {
  using Handle = void*;
  // cublasStatus_t is an int enum (0 = success); cublasOperation_t: 0 = N, 1 = T.
  int (*create)(Handle*) = nullptr;
  int (*destroy)(Handle) = nullptr;
  int (*set_stream)(Handle, cudaStream_t) = nullptr;
  int (*sgemm)(Handle, int, int, int, int, int, const float*, const float*, int, const float*, int, const float*,
               float*, int) = nullptr;
  // cublasGemmEx: (handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype,
  // ldc, computeType, algo). cudaDataType CUDA_R_32F = 0; cublasComputeType_t CUBLAS_COMPUTE_32F_FAST_16BF
  // = 75 (fp32 operands rounded to bf16 on the tensor cores, fp32 accumulation); CUBLAS_GEMM_DEFAULT = -1.
  int (*gemm_ex)(Handle, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                 const void*, void*, int, int, int, int) = nullptr;
  // cublasGemmStridedBatchedEx: cublasGemmEx's arguments with a long long stride after each of lda, ldb
  // and ldc, and batchCount before computeType. CUBLAS_COMPUTE_32F = 68 (plain fp32); CUDA_R_16BF = 14
  // (bfloat16 operands, with a CUDA_R_32F C and CUBLAS_COMPUTE_32F).
  int (*gemm_strided_batched_ex)(Handle, int, int, int, int, int, const void*, const void*, int, int, long long,
                                 const void*, int, int, long long, const void*, void*, int, int, long long, int, int,
                                 int) = nullptr;
  static constexpr int kR32F = 0, kR16BF = 14, kCompute32F = 68, kComputeFast16BF = 75, kGemmDefault = -1;
  Handle handle = nullptr;
  std::string library;  // the file that was loaded
};

// The loaded API with a handle on the current device, or null (with *why filled) when cuBLAS cannot
// be found or initialised. Loaded once per process.
const CublasApi* cublas_api(std::string* why = nullptr);

}  // namespace cxrl
