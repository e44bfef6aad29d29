#include "core/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/parallel.h"

#ifdef CXRL_WITH_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

namespace cxrl {
namespace {

GemmBackend initial_backend() {
#ifdef CXRL_WITH_OPENBLAS
  const char* env = std::getenv("CXRL_GEMM");
  if (env && std::strcmp(env, "builtin") == 0) return GemmBackend::kBuiltin;
  return GemmBackend::kOpenBlas;
#else
  return GemmBackend::kBuiltin;
#endif
}

GemmBackend g_backend = initial_backend();

constexpr int kBlockK = 256;  // rows of packed B kept hot in L2
constexpr int kBlockN = 512;  // columns of C updated per task

// C[i0:i1, j0:j1] += alpha * A(i, k0:k1) * Bp, where Bp is op(B)[k0:k1, j0:j1] packed row-major.
// Four rows of C share each load of Bp; the j loop is contiguous and vectorises.
void micro_block(int i0, int i1, int j0, int nb, int k0, int kb, float alpha, const float* A, int lda, bool trans_a,
                 const float* Bp, float* C, int ldc) {
  auto a_at = [&](int i, int k) { return trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]; };
  int i = i0;
  for (; i + 4 <= i1; i += 4) {
    float* c0 = C + (size_t)i * ldc + j0;
    float* c1 = c0 + ldc;
    float* c2 = c1 + ldc;
    float* c3 = c2 + ldc;
    for (int k = 0; k < kb; ++k) {
      const float a0 = alpha * a_at(i, k0 + k), a1 = alpha * a_at(i + 1, k0 + k);
      const float a2 = alpha * a_at(i + 2, k0 + k), a3 = alpha * a_at(i + 3, k0 + k);
      const float* b = Bp + (size_t)k * nb;
      for (int j = 0; j < nb; ++j) {
        const float bj = b[j];
        c0[j] += a0 * bj;
        c1[j] += a1 * bj;
        c2[j] += a2 * bj;
        c3[j] += a3 * bj;
      }
    }
  }
  for (; i < i1; ++i) {
    float* c = C + (size_t)i * ldc + j0;
    for (int k = 0; k < kb; ++k) {
      const float a = alpha * a_at(i, k0 + k);
      const float* b = Bp + (size_t)k * nb;
      for (int j = 0; j < nb; ++j) c[j] += a * b[j];
    }
  }
}

}  // namespace

bool openblas_available() {
#ifdef CXRL_WITH_OPENBLAS
  return true;
#else
  return false;
#endif
}

GemmBackend gemm_backend() { return g_backend; }

void set_gemm_backend(GemmBackend b) {
  if (b == GemmBackend::kOpenBlas && !openblas_available())
    throw std::invalid_argument("this build has no OpenBLAS; only the built-in GEMM is available");
  g_backend = b;
}

std::string gemm_backend_name() { return g_backend == GemmBackend::kOpenBlas ? "openblas" : "builtin"; }

void sgemm_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  // Scale C by beta first; afterwards every block only accumulates.
  parallel_for(M, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      float* c = C + (size_t)i * ldc;
      if (beta == 0.f)
        std::fill(c, c + N, 0.f);
      else if (beta != 1.f)
        for (int j = 0; j < N; ++j) c[j] *= beta;
    }
  });
  if (K <= 0 || alpha == 0.f) return;
  std::vector<float> packed;
  for (int k0 = 0; k0 < K; k0 += kBlockK) {
    const int kb = std::min(kBlockK, K - k0);
    for (int j0 = 0; j0 < N; j0 += kBlockN) {
      const int nb = std::min(kBlockN, N - j0);
      packed.resize((size_t)kb * nb);
      for (int k = 0; k < kb; ++k)
        for (int j = 0; j < nb; ++j)
          packed[(size_t)k * nb + j] =
              trans_b ? B[(size_t)(j0 + j) * ldb + k0 + k] : B[(size_t)(k0 + k) * ldb + j0 + j];
      const float* Bp = packed.data();
      parallel_for(M, 8, [&](int64_t r0, int64_t r1) {
        micro_block((int)r0, (int)r1, j0, nb, k0, kb, alpha, A, lda, trans_a, Bp, C, ldc);
      });
    }
  }
}

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
           int ldb, float beta, float* C, int ldc) {
#ifdef CXRL_WITH_OPENBLAS
  if (g_backend == GemmBackend::kOpenBlas) {
    // Callers may be the JS thread or a libuv worker (async UNet passes): keep the cache atomic.
    static std::atomic<int> configured_threads{-1};
    const int want = num_threads();
    if (configured_threads.exchange(want) != want) openblas_set_num_threads(want);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  sgemm_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace cxrl
