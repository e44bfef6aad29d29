#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "core/precision.h"
#include "cuda/check.h"
#include "cuda/cublas_loader.h"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"

namespace cxrl {
namespace {

// 64 x 64 tile of C per block of 256 threads, each thread 4 x 4 outputs strided by 16 (so a warp's
// shared-memory reads hit consecutive banks); K in steps of 16 staged through shared memory.
constexpr int kTile = 64, kTileK = 16;

// An operand as the product sees it: fp32, fp32 rounded to bfloat16 (nearest even) as the tensor
// cores see it under bf16 compute, or a bf16 operand widened (exact).
template <bool kRoundToBf16>
__device__ __forceinline__ float operand(float x) {
  return kRoundToBf16 ? __bfloat162float(__float2bfloat16_rn(x)) : x;
}
template <bool kRoundToBf16>
__device__ __forceinline__ float operand(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

// In: the operands' type (float or __nv_bfloat16). blockIdx.z: the product of a strided batch (A, B,
// C advanced by their strides).
template <bool kTransA, bool kTransB, bool kBf16, typename In>
__global__ void sgemm_tiled(int M, int N, int K, float alpha, const In* __restrict__ A, int lda,
                            const In* __restrict__ B, int ldb, float beta, float* __restrict__ C, int ldc,
                            GemmBatch batch) {
  A += blockIdx.z * batch.stride_a;
  B += blockIdx.z * batch.stride_b;
  C += blockIdx.z * batch.stride_c;
  __shared__ float As[kTileK][kTile + 1];  // [k][m]
  __shared__ float Bs[kTileK][kTile + 1];  // [k][n]
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int m0 = blockIdx.y * kTile, n0 = blockIdx.x * kTile;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += kTileK) {
    for (int i = threadIdx.x; i < kTile * kTileK; i += blockDim.x) {
      // A: consecutive threads walk the dimension that is contiguous in memory.
      const int mm = kTransA ? i % kTile : i / kTileK, kk = kTransA ? i / kTile : i % kTileK;
      const int m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < K) ? operand<kBf16>(kTransA ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k]) : 0.f;
    }
    for (int i = threadIdx.x; i < kTile * kTileK; i += blockDim.x) {
      const int nn = kTransB ? i / kTileK : i % kTile, kk = kTransB ? i % kTileK : i / kTile;
      const int n = n0 + nn, k = k0 + kk;
      Bs[kk][nn] = (k < K && n < N) ? operand<kBf16>(kTransB ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < M && n < N) {
        float* c = C + (size_t)m * ldc + n;
        *c = alpha * acc[i][j] + (beta == 0.f ? 0.f : beta * *c);
      }
    }
}

CudaGemmBackend initial_backend() {
  const char* env = std::getenv("CXRL_CUDA_GEMM");
  if (env && std::strcmp(env, "builtin") == 0) return CudaGemmBackend::kBuiltin;
  if (env && std::strcmp(env, "cublas") == 0) {
    std::string why;
    if (!cublas_api(&why)) throw std::runtime_error("CXRL_CUDA_GEMM=cublas: " + why);
    return CudaGemmBackend::kCublas;
  }
  return cublas_api() ? CudaGemmBackend::kCublas : CudaGemmBackend::kBuiltin;
}

CudaGemmBackend& backend_slot() {
  static CudaGemmBackend b = initial_backend();
  return b;
}

}  // namespace

bool cublas_available(std::string* where_or_why) {
  std::string why;
  const CublasApi* api = cublas_api(&why);
  if (where_or_why) *where_or_why = api ? api->library : why;
  return api != nullptr;
}

CudaGemmBackend cuda_gemm_backend() { return backend_slot(); }

void set_cuda_gemm_backend(CudaGemmBackend b) {
  std::string why;
  if (b == CudaGemmBackend::kCublas && !cublas_api(&why)) throw std::runtime_error(why);
  backend_slot() = b;
}

std::string cuda_gemm_backend_name() { return backend_slot() == CudaGemmBackend::kCublas ? "cublas" : "builtin"; }

// A batch the built-in kernel can run as its grid's z (the limit holds for both backends, so that a
// caller's batches do not depend on which one is chosen).
void require_batch_size(const GemmBatch& batch) {
  if (batch.count > kMaxGemmBatch) throw std::invalid_argument("sgemm: batch of more than 65535 products");
}

template <bool kBf16, typename In>
void launch_tiled(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const In* A, int lda, const In* B,
                  int ldb, float beta, float* C, int ldc, const GemmBatch& batch) {
  const dim3 grid((N + kTile - 1) / kTile, (M + kTile - 1) / kTile, batch.count);
  auto* kernel = trans_a ? (trans_b ? sgemm_tiled<true, true, kBf16, In> : sgemm_tiled<true, false, kBf16, In>)
                         : (trans_b ? sgemm_tiled<false, true, kBf16, In> : sgemm_tiled<false, false, kBf16, In>);
  CXRL_LAUNCH(kernel, grid, 256, 0)(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
  check(cudaGetLastError(), "sgemm_tiled launch");
}

// cublasGemmStridedBatchedEx for row-major operands. Row-major C = op(A) op(B) is column-major
// C^T = op(B)^T op(A)^T: swap the operands (and their strides), keep the leading dimensions.
void cublas_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const void* A, int lda, const void* B,
                    int ldb, int operand_type, float beta, float* C, int ldc, const GemmBatch& batch, int compute) {
  const CublasApi* api = cublas_api();
  const int status =
      api->gemm_strided_batched_ex(api->handle, trans_b ? 1 : 0, trans_a ? 1 : 0, N, M, K, &alpha, B, operand_type, ldb,
                                   batch.stride_b, A, operand_type, lda, batch.stride_a, &beta, C, CublasApi::kR32F,
                                   ldc, batch.stride_c, batch.count, compute, CublasApi::kGemmDefault);
  if (status != 0) throw std::runtime_error("cuBLAS strided batched GEMM failed with status " + std::to_string(status));
}

void sgemm_batched_device_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                                  const float* B, int ldb, float beta, float* C, int ldc, const GemmBatch& batch) {
  if (M <= 0 || N <= 0 || batch.count <= 0) return;
  require_batch_size(batch);
  if (compute_precision() == ComputePrecision::kBf16)
    launch_tiled<true>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
  else
    launch_tiled<false>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
}

void sgemm_device_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                          const float* B, int ldb, float beta, float* C, int ldc) {
  sgemm_batched_device_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, GemmBatch{});
}

void sgemm_device(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc) {
  if (backend_slot() == CudaGemmBackend::kBuiltin)
    return sgemm_device_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (M <= 0 || N <= 0) return;
  // The operand swap of cublas_batched.
  const CublasApi* api = cublas_api();
  const int op_b = trans_b ? 1 : 0, op_a = trans_a ? 1 : 0;
  const int status =
      compute_precision() == ComputePrecision::kBf16
          ? api->gemm_ex(api->handle, op_b, op_a, N, M, K, &alpha, B, CublasApi::kR32F, ldb, A, CublasApi::kR32F, lda,
                         &beta, C, CublasApi::kR32F, ldc, CublasApi::kComputeFast16BF, CublasApi::kGemmDefault)
          : api->sgemm(api->handle, op_b, op_a, N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc);
  if (status != 0) throw std::runtime_error("cuBLAS GEMM failed with status " + std::to_string(status));
}

void sgemm_batched_device(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                          const float* B, int ldb, float beta, float* C, int ldc, const GemmBatch& batch) {
  if (backend_slot() == CudaGemmBackend::kBuiltin)
    return sgemm_batched_device_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
  if (M <= 0 || N <= 0 || batch.count <= 0) return;
  require_batch_size(batch);
  cublas_batched(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, CublasApi::kR32F, beta, C, ldc, batch,
                 compute_precision() == ComputePrecision::kBf16 ? CublasApi::kComputeFast16BF : CublasApi::kCompute32F);
}

void gemm_bf16_batched_device(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const __nv_bfloat16* A,
                              int lda, const __nv_bfloat16* B, int ldb, float beta, float* C, int ldc,
                              const GemmBatch& batch) {
  if (M <= 0 || N <= 0 || batch.count <= 0) return;
  require_batch_size(batch);
  if (backend_slot() == CudaGemmBackend::kBuiltin)
    return launch_tiled<false>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
  cublas_batched(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, CublasApi::kR16BF, beta, C, ldc, batch,
                 CublasApi::kCompute32F);
}

}  // namespace cxrl
