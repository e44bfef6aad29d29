// Every CUDA op twin against its CPU twin on random shapes (the CPU ops are themselves checked by
// finite differences in native/tests/test_ops.cc). Run on a machine with a GPU.
#include <cuda_runtime.h>

#include <array>
#include <cmath>
#include <cstdlib>

#include "core/gemm.h"
#include "cuda/check.h"
#include "cuda/gemm.h"
#include "cuda/ops.h"
#include "model/ema.h"
#include "model/optimizer.h"
#include "ops/activation.h"
#include "ops/linear.h"
#include "ops/mse_loss.h"
#include "ops/norm.h"
#include "tests/cuda/cuda_compare.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;

TEST(cuda_gemm_matches_float64) {
  require_device();
  std::string where;
  const bool have_cublas = cublas_available(&where);
  std::printf("    cuBLAS: %s\n", where.c_str());
  if (std::getenv("CXRL_REQUIRE_CUBLAS")) CHECK(have_cublas, "CXRL_REQUIRE_CUBLAS is set but cuBLAS was not found");
  const CudaGemmBackend saved = cuda_gemm_backend();
  for (int trans = 0; trans < 4; ++trans) {
    const bool ta = trans & 1, tb = trans & 2;
    const int M = rand_int(1, 150), N = rand_int(1, 150), K = rand_int(1, 300);
    const float alpha = 0.7f, beta = trans == 3 ? 0.f : 0.4f;
    const Tensor A = randn(ta ? Shape{K, M} : Shape{M, K}), B = randn(tb ? Shape{N, K} : Shape{K, N}),
                 C0 = randn({M, N});
    Tensor ref({M, N});
    gemm_float64(ta, tb, M, N, K, alpha, A.data(), B.data(), beta, C0.data(), ref.data());
    for (CudaGemmBackend b : {CudaGemmBackend::kBuiltin, CudaGemmBackend::kCublas}) {
      if (b == CudaGemmBackend::kCublas && !have_cublas) continue;
      set_cuda_gemm_backend(b);
      DeviceArray<float> dA = on_device(A), dB = on_device(B), dC = on_device(C0);
      sgemm_device(ta, tb, M, N, K, alpha, dA.data(), ta ? M : K, dB.data(), tb ? K : N, beta, dC.data(), N);
      expect_close(std::string("sgemm ") + cuda_gemm_backend_name() + (ta ? " A^T" : " A") + (tb ? " B^T " : " B ") +
                       std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K),
                   from_device(dC, {M, N}), ref, 1e-5);
    }
  }
  set_cuda_gemm_backend(saved);
}

// Strided batches as the convolution uses them: one shared operand (stride 0) and one per product,
// every transpose, on both GEMM backends; each product against float64.
TEST(cuda_batched_gemm_matches_float64) {
  require_device();
  const bool have_cublas = cublas_available();
  const CudaGemmBackend saved = cuda_gemm_backend();
  for (int trans = 0; trans < 4; ++trans) {
    const bool ta = trans & 1, tb = trans & 2, share_a = trans % 2 == 0;
    const int M = rand_int(1, 90), N = rand_int(1, 90), K = rand_int(1, 150), count = rand_int(2, 4);
    const float alpha = 1.f, beta = trans == 1 ? 0.5f : 0.f;
    const Tensor A = randn({share_a ? 1 : count, M * K}), B = randn({count, K * N}), C0 = randn({count, M * N});
    const int64_t stride_a = share_a ? 0 : (int64_t)M * K;
    Tensor ref({count, M * N});
    for (int i = 0; i < count; ++i)
      gemm_float64(ta, tb, M, N, K, alpha, A.data() + i * stride_a, B.data() + (int64_t)i * K * N, beta,
                   C0.data() + (int64_t)i * M * N, ref.data() + (int64_t)i * M * N);
    for (CudaGemmBackend backend : {CudaGemmBackend::kBuiltin, CudaGemmBackend::kCublas}) {
      if (backend == CudaGemmBackend::kCublas && !have_cublas) continue;
      set_cuda_gemm_backend(backend);
      DeviceArray<float> dA = on_device(A), dB = on_device(B), dC = on_device(C0);
      sgemm_batched_device(ta, tb, M, N, K, alpha, dA.data(), ta ? M : K, dB.data(), tb ? K : N, beta, dC.data(), N,
                           GemmBatch{count, stride_a, (int64_t)K * N, (int64_t)M * N});
      expect_close(std::string("batched sgemm ") + cuda_gemm_backend_name() + (ta ? " A^T" : " A") +
                       (share_a ? " (shared)" : "") + (tb ? " B^T " : " B ") + std::to_string(count) + " x " +
                       std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K),
                   from_device(dC, ref.shape), ref, 1e-5);
    }
  }
  set_cuda_gemm_backend(saved);
}

TEST(cuda_linear_matches_cpu) {
  require_device();
  for (bool bias : {true, false}) {
    // With the bias, over 512 rows: its gradient's per-column sums take several row chunks.
    const int rows = bias ? rand_int(520, 700) : rand_int(1, 300), in = rand_int(1, 200), out = rand_int(1, 200);
    const Tensor x = randn({rows, in}), w = randn({out, in}, 0.3f), b = randn({out}), gy = randn({rows, out});
    const Tensor y = linear_forward(x, w, bias ? &b : nullptr);
    Tensor gx, gw = randn({out, in}), gb = randn({out});  // accumulated into: start non-zero
    DeviceArray<float> dx = on_device(x), dw = on_device(w), db = on_device(b), dgy = on_device(gy), dy(y.v.size()),
                       dgx(x.v.size()), dgw = on_device(gw), dgb = on_device(gb);
    linear_backward(x, w, gy, &gx, &gw, bias ? &gb : nullptr);
    linear_forward_device(dx.data(), dw.data(), bias ? db.data() : nullptr, dy.data(), rows, in, out);
    linear_backward_device(dx.data(), dw.data(), dgy.data(), dgx.data(), dgw.data(), bias ? dgb.data() : nullptr, rows,
                           in, out);
    const std::string l = "linear " + std::to_string(rows) + "x" + std::to_string(in) + "->" + std::to_string(out) +
                          (bias ? " bias" : "");
    expect_close(l + " y", from_device(dy, y.shape), y, kFp32Tol);
    expect_close(l + " gx", from_device(dgx, x.shape), gx, kFp32Tol);
    expect_close(l + " gw (accumulated)", from_device(dgw, gw.shape), gw, kFp32Tol);
    if (bias) expect_close(l + " gb (accumulated)", from_device(dgb, gb.shape), gb, kFp32Tol);
  }
}

TEST(cuda_activations_match_cpu) {
  require_device();
  const int64_t rows = rand_int(1, 50), I = rand_int(1, 300);
  const Tensor x = randn({rows, 2 * I}, 3.f), gy = randn({rows, 2 * I}), ghalf = randn({rows, I});
  const int64_t n = x.numel();
  DeviceArray<float> dx = on_device(x), dgy = on_device(gy), dgh = on_device(ghalf), out(n), gout(n);
  silu_forward_device(dx.data(), out.data(), n);
  expect_close("silu", from_device(out, x.shape), silu_forward(x), kFp32Tol);
  silu_backward_device(dx.data(), dgy.data(), gout.data(), n);
  expect_close("silu backward", from_device(gout, x.shape), silu_backward(x, gy), kFp32Tol);
  gelu_forward_device(dx.data(), out.data(), n);
  expect_close("gelu", from_device(out, x.shape), gelu_forward(x), kFp32Tol);
  gelu_backward_device(dx.data(), dgy.data(), gout.data(), n);
  expect_close("gelu backward", from_device(gout, x.shape), gelu_backward(x, gy), kFp32Tol);
  DeviceArray<float> half(rows * I);
  geglu_forward_device(dx.data(), half.data(), rows, I);
  expect_close("geglu", from_device(half, {rows, I}), geglu_forward(x), kFp32Tol);
  geglu_backward_device(dx.data(), dgh.data(), gout.data(), rows, I);
  expect_close("geglu backward", from_device(gout, x.shape), geglu_backward(x, ghalf), kFp32Tol);
}

// GroupNorm (with and without the fused SiLU) and LayerNorm through the one device norm.
TEST(cuda_norms_match_cpu) {
  require_device();
  const float eps = 1e-5f;
  // A random small shape, and one whose groups span two of the forward's 8192-value slices (their
  // moments are merged), with values offset from zero.
  const int G0 = rand_int(1, 4);
  for (const auto [B, C, H, W, G, offset] :
       {std::array<int, 6>{rand_int(1, 3), G0 * rand_int(1, 6), rand_int(1, 20), rand_int(1, 20), G0, 0},
        std::array<int, 6>{2, 4, 80, 80 + rand_int(0, 9), 2, 3}}) {
    Tensor x = randn({B, C, H, W}, 2.f);
    for (float& v : x.v) v += offset;
    const Tensor gamma = randn({C}), beta = randn({C}), gy = randn({B, C, H, W});
    const NormShape gs{B, C, (int64_t)H * W, G};
    for (bool silu : {false, true}) {
      NormStats st;
      Tensor pre;
      const Tensor y = silu ? group_norm_silu_forward(x, G, gamma, beta, eps, &st, &pre)
                            : group_norm_forward(x, G, gamma, beta, eps, &st);
      DeviceArray<float> dx = on_device(x), dg = on_device(gamma), db = on_device(beta), dy(x.v.size()),
                         dpre(x.v.size()), mean(B * G), rstd(B * G);
      norm_forward_device(gs, dx.data(), dg.data(), db.data(), eps, dy.data(), mean.data(), rstd.data(), silu,
                          silu ? dpre.data() : nullptr);
      const std::string l =
          "group norm" + std::string(silu ? "+silu " : " ") + shape_str(x.shape) + " G " + std::to_string(G);
      expect_close(l, from_device(dy, y.shape), y, kFp32Tol);
      if (silu) expect_close(l + " pre-activation", from_device(dpre, x.shape), pre, kFp32Tol);
      expect_close(l + " rstd", from_device(rstd, {B * G}), st.rstd, kFp32Tol);
      if (silu) continue;
      Tensor gx, ggamma = randn({C}), gbeta = randn({C});
      DeviceArray<float> dgy = on_device(gy), dgx(x.v.size()), dgg = on_device(ggamma), dgb = on_device(gbeta);
      group_norm_backward(x, G, gamma, st, gy, &gx, &ggamma, &gbeta);
      norm_backward_device(gs, dx.data(), dg.data(), mean.data(), rstd.data(), dgy.data(), dgx.data(), dgg.data(),
                           dgb.data());
      expect_close(l + " gx", from_device(dgx, x.shape), gx, kFp32Tol);
      expect_close(l + " ggamma (accumulated)", from_device(dgg, {C}), ggamma, kFp32Tol);
      expect_close(l + " gbeta (accumulated)", from_device(dgb, {C}), gbeta, kFp32Tol);
    }
  }
  const int rows = rand_int(1, 40), D = rand_int(2, 700);
  const Tensor lx = randn({rows, D}, 2.f), lg = randn({D}), lb = randn({D}), lgy = randn({rows, D});
  NormStats st;
  const Tensor ly = layer_norm_forward(lx, lg, lb, eps, &st);
  Tensor gx, gg({D}), gb({D});
  layer_norm_backward(lx, lg, st, lgy, &gx, &gg, &gb);
  const NormShape ls{rows, D, 1, 1};
  DeviceArray<float> dx = on_device(lx), dg = on_device(lg), db = on_device(lb), dgy = on_device(lgy), dy(lx.v.size()),
                     dgx(lx.v.size()), dgg = on_device(Tensor({D})), dgb = on_device(Tensor({D})), mean(rows),
                     rstd(rows);
  norm_forward_device(ls, dx.data(), dg.data(), db.data(), eps, dy.data(), mean.data(), rstd.data());
  norm_backward_device(ls, dx.data(), dg.data(), mean.data(), rstd.data(), dgy.data(), dgx.data(), dgg.data(),
                       dgb.data());
  const std::string l = "layer norm " + shape_str(lx.shape);
  expect_close(l, from_device(dy, lx.shape), ly, kFp32Tol);
  expect_close(l + " gx", from_device(dgx, lx.shape), gx, kFp32Tol);
  expect_close(l + " ggamma", from_device(dgg, {D}), gg, kFp32Tol);
  expect_close(l + " gbeta", from_device(dgb, {D}), gb, kFp32Tol);
}

TEST(cuda_mse_matches_cpu) {
  require_device();
  const int64_t n = rand_int(1, 200000);
  const Tensor p = randn({n}), t = randn({n});
  DeviceArray<float> dp = on_device(p), dt = on_device(t), g(n);
  const double ref = mse_loss_forward(p, t), got = mse_loss_forward_device(dp.data(), dt.data(), n);
  const double rel = std::fabs(got - ref) / ref;
  std::printf("    mse of %lld values: rel err %.2e\n", (long long)n, rel);
  CHECK(rel < 1e-12, "device MSE differs from the CPU twin");
  mse_loss_backward_device(dp.data(), dt.data(), 0.5f, g.data(), n);
  expect_close("mse backward", from_device(g, p.shape), mse_loss_backward(p, t, 0.5f), kFp32Tol);
}

// Several tensors in one launch: a small one, one of a single value, and one that spans more than
// two chunks of the multi-tensor table, so chunk boundaries inside a tensor are crossed too.
TEST(cuda_adamw_and_ema_match_cpu) {
  require_device();
  const std::vector<int64_t> sizes = {rand_int(1, 5000), 1, 2 * (int64_t(1) << 18) + rand_int(1, 5000)};
  for (bool decoupled : {true, false}) {
    ParamStore store;
    std::vector<Param*> ps;
    for (size_t j = 0; j < sizes.size(); ++j)
      ps.push_back(store.add("w" + std::to_string(j), {sizes[j]}, Init::kUniformFanIn, 7));
    AdamConfig cfg;
    cfg.lr = 3e-3f;
    cfg.decoupled = decoupled;
    AdamOptimizer opt(ps, cfg);
    std::vector<DeviceArray<float>> dp, dm, dv;
    for (Param* p : ps) {
      dp.push_back(on_device(p->value));
      dm.push_back(on_device(Tensor(p->value.shape)));
      dv.push_back(on_device(Tensor(p->value.shape)));
    }
    for (int step = 1; step <= 5; ++step) {
      std::vector<DeviceArray<float>> dg;
      std::vector<AdamArrays> arrays;
      for (size_t j = 0; j < ps.size(); ++j) {
        ps[j]->grad = randn(ps[j]->value.shape);
        dg.push_back(on_device(ps[j]->grad));
        arrays.push_back({dp[j].data(), dg[j].data(), dm[j].data(), dv[j].data(), sizes[j]});
      }
      opt.step();
      adam_step_device(adam_step_scalars(cfg, step), arrays);
    }
    for (size_t j = 0; j < ps.size(); ++j)
      expect_close(
          std::string(decoupled ? "AdamW" : "Adam (L2)") + " after 5 steps, " + std::to_string(sizes[j]) + " params",
          from_device(dp[j], ps[j]->value.shape), ps[j]->value, 1e-5);
  }
  ParamStore live, shadow;
  std::vector<DeviceArray<float>> ds, da;
  std::vector<EmaArrays> arrays;
  for (size_t j = 0; j < sizes.size(); ++j) {
    Param* a = live.add("a" + std::to_string(j), {sizes[j]}, Init::kUniformFanIn, 3);
    Param* s = shadow.add("a" + std::to_string(j), a->value.shape, Init::kUniformFanIn, 5);
    ds.push_back(on_device(s->value));
    da.push_back(on_device(a->value));
    arrays.push_back({ds.back().data(), da.back().data(), sizes[j]});
  }
  ema_update(shadow, live, 0.99f);
  ema_update_device(arrays, 0.99f);
  for (size_t j = 0; j < sizes.size(); ++j) {
    const Tensor& want = shadow.find("a" + std::to_string(j))->value;
    expect_close("EMA update, " + std::to_string(sizes[j]) + " values", from_device(ds[j], want.shape), want, 1e-6);
  }
}

TEST(cuda_caching_allocator_reuses_blocks) {
  require_device();
  device_empty_cache();
  const DeviceMemoryStats before = device_memory_stats();
  for (int i = 0; i < 1000; ++i) {
    DeviceArray<float> a(1000 + i % 7), b(3 << 20);  // a small and a large size class
  }
  const DeviceMemoryStats after = device_memory_stats();
  std::printf("    1000 loops of two allocations: %lld cudaMalloc calls, %zu bytes still in use, %zu cached\n",
              (long long)(after.device_mallocs - before.device_mallocs), after.bytes_in_use - before.bytes_in_use,
              after.bytes_cached);
  CHECK(after.device_mallocs - before.device_mallocs == 2, "the caching allocator called cudaMalloc again");
  CHECK(after.bytes_in_use == before.bytes_in_use, "device memory leaked");
  CHECK(after.peak_bytes_in_use >= (size_t(3) << 22), "peak memory not recorded");
}
