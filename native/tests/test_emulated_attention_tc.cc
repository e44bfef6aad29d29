// The tensor-core flash attention kernels (cuda/attention_tensor_core_kernels.cuh) run here, without
// a GPU, on the emulated device of tests/cuda_emulation.h: forward, dQ and dK/dV against the fp32 CPU
// attention within the bf16 bound, over SD's head dims (40 padded to 48, 80, 160), one below a
// WMMA tile, cross-attention to masked tokens, lengths that are not multiples of the 64-row tiles,
// and a batch entry with every key masked. This checks the kernels' indexing, tiling, online
// softmax, masking and synchronisation (and WMMA's alignment rules) on every CI run; the same
// kernels on the H200 are checked by test_cuda_precision.cc.

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <algorithm>
#include <cstdio>
#include <string>

#include "cuda/attention_tensor_core_kernels.cuh"
#include "harness.h"
#include "ops/attention.h"

using namespace cxrl;
using namespace cxrl::test;

namespace {

dim3 grid_over(int64_t rows, const AttentionShape& s) { return dim3(row_blocks(rows), (unsigned)(s.B * s.H)); }

// max |got - ref| / max |ref|.
double rel_error(const Tensor& got, const Tensor& ref) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    diff = std::max(diff, (double)std::abs(got.v[i] - ref.v[i]));
    scale = std::max(scale, (double)std::abs(ref.v[i]));
    if (!std::isfinite(got.v[i])) return INFINITY;
  }
  return diff / std::max(scale, 1e-30);
}

struct AttentionCase {
  int B, H, d, Lq, Lk;
  bool mask;
};

}  // namespace

TEST(tensor_core_attention_on_emulated_gpu_matches_cpu_within_bf16_bound) {
  constexpr double kBf16Tol = 2e-2;
  for (const AttentionCase c : {AttentionCase{1, 2, 40, 70, 70, false}, AttentionCase{2, 1, 40, 20, 77, true},
                                AttentionCase{1, 1, 80, 65, 30, false}, AttentionCase{1, 1, 160, 17, 70, true},
                                AttentionCase{1, 2, 8, 33, 9, false}}) {
    const Tensor q = randn({c.B, c.Lq, c.H * c.d}), k = randn({c.B, c.Lk, c.H * c.d}),
                 v = randn({c.B, c.Lk, c.H * c.d}), gy = randn({c.B, c.Lq, c.H * c.d});
    Tensor mask({c.B, c.Lk}, 1.f);
    if (c.mask) {
      for (int j = 0; j < c.Lk; j += 3) mask.v[j] = 0.f;
      if (c.B > 1)
        for (int j = 0; j < c.Lk; ++j) mask.v[c.Lk + j] = 0.f;  // the second entry attends to nothing
    }
    const Tensor* m = c.mask ? &mask : nullptr;
    AttentionCache cache;
    const Tensor y = attention_forward(q, k, v, c.H, m, &cache);
    Tensor gq, gk, gv;
    attention_backward(q, k, v, c.H, cache, gy, &gq, &gk, &gv);

    const AttentionShape s{c.B, c.H, c.d, c.Lq, c.Lk};
    const float* mp = c.mask ? mask.v.data() : nullptr;
    const int dp = padded_dim(c.d);
    Tensor out(y.shape), lse({c.B, c.H, c.Lq}), eq(q.shape), ek(k.shape), ev(v.shape);
    emulation::launch(grid_over(c.Lq, s), dim3(kWarps * 32), ForwardSmem::size(dp), [&] {
      attention_forward_tc_kernel(s, q.v.data(), k.v.data(), v.v.data(), mp, out.v.data(), lse.v.data());
    });
    // delta = sum_c dO O per query row, as attention.cu's fp32 kernel makes it.
    Tensor delta({c.B, c.H, c.Lq});
    for (int b = 0; b < c.B; ++b)
      for (int h = 0; h < c.H; ++h)
        for (int i = 0; i < c.Lq; ++i) {
          float acc = 0.f;
          for (int e = 0; e < c.d; ++e) {
            const int64_t at = ((int64_t)b * c.Lq + i) * c.H * c.d + h * c.d + e;
            acc += out.v[at] * gy.v[at];
          }
          delta.v[((int64_t)b * c.H + h) * c.Lq + i] = acc;
        }
    emulation::launch(grid_over(c.Lq, s), dim3(kWarps * 32), DqSmem::size(dp), [&] {
      attention_dq_tc_kernel(s, q.v.data(), k.v.data(), v.v.data(), mp, gy.v.data(), lse.v.data(), delta.v.data(),
                             eq.v.data());
    });
    emulation::launch(grid_over(c.Lk, s), dim3(kWarps * 32), DkvSmem::size(dp), [&] {
      attention_dkv_tc_kernel(s, q.v.data(), k.v.data(), v.v.data(), mp, gy.v.data(), lse.v.data(), delta.v.data(),
                              ek.v.data(), ev.v.data());
    });

    const std::string l = "B" + std::to_string(c.B) + " H" + std::to_string(c.H) + " d" + std::to_string(c.d) + " " +
                          std::to_string(c.Lq) + "x" + std::to_string(c.Lk) + (c.mask ? " masked" : "");
    const Tensor* got[4] = {&out, &eq, &ek, &ev};
    const Tensor* ref[4] = {&y, &gq, &gk, &gv};
    const char* names[4] = {"y", "dq", "dk", "dv"};
    std::printf("    %s:", l.c_str());
    for (int i = 0; i < 4; ++i) {
      const double e = rel_error(*got[i], *ref[i]);
      std::printf(" %s %.1e", names[i], e);
      CHECK(e < kBf16Tol, l + " " + names[i] + ": outside the bf16 bound");
      CHECK(e > 1e-6, l + " " + names[i] + ": as exact as fp32, so the operands were not rounded to bf16");
    }
    std::printf("\n");
    if (c.mask && c.B > 1) {  // the fully masked entry: zeros everywhere, lse -inf
      const int64_t per_q = (int64_t)c.Lq * c.H * c.d, per_k = (int64_t)c.Lk * c.H * c.d;
      bool zero = true;
      for (int64_t i = 0; i < per_q; ++i) zero = zero && out.v[per_q + i] == 0.f && eq.v[per_q + i] == 0.f;
      for (int64_t i = 0; i < per_k; ++i) zero = zero && ek.v[per_k + i] == 0.f && ev.v[per_k + i] == 0.f;
      for (int64_t i = 0; i < (int64_t)c.H * c.Lq; ++i) zero = zero && lse.v[c.H * c.Lq + i] == -INFINITY;
      CHECK(zero, l + ": the entry with every key masked has nonzero outputs or gradients, or a finite lse");
    }
  }
}
