// The fp32 flash attention kernels (cuda/attention_kernels.cuh) run here, without a GPU, on the
// emulated device of tests/cuda_emulation.h, with attention.cu's launch geometry: output, log-sum-exp
// and all three gradients against the CPU attention (fp32 bound), over head dims from 8 to 256,
// cross-attention to masked tokens, lengths that are not multiples of the tiles, and a batch entry
// with every key masked; and the wide-head path's masked row softmax. The same kernels on the H200:
// test_cuda_layers.cc.

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <algorithm>
#include <cstdio>
#include <string>

#include "cuda/attention_kernels.cuh"
#include "cuda/attention_wide_kernels.cuh"
#include "harness.h"
#include "tests/attention_case.h"

using namespace cxrl;
using namespace cxrl::test;

namespace {

void launch(unsigned blocks_x, unsigned blocks_y, int threads, size_t smem_bytes, const std::function<void()>& body) {
  emulation::launch(dim3(blocks_x, blocks_y), dim3(threads), smem_bytes, body);
}

}  // namespace

TEST(fp32_flash_attention_on_emulated_gpu_matches_cpu) {
  constexpr double kTol = 1e-4;
  for (const AttentionCase c : {AttentionCase{1, 2, 8, 37, 37, false}, AttentionCase{2, 1, 40, 20, 77, true},
                                AttentionCase{1, 1, 160, 17, 45, true}, AttentionCase{1, 1, 256, 5, 40, false}}) {
    const AttentionReference r = attention_reference(c);
    const Tensor &q = r.q, &k = r.k, &v = r.v, &gy = r.gy;
    const AttentionShape s{c.B, c.H, c.d, c.Lq, c.Lk};
    const float* mp = c.mask ? r.mask.v.data() : nullptr;
    const unsigned heads = (unsigned)(c.B * c.H);
    const int64_t rows = (int64_t)c.B * c.H * c.Lq;
    Tensor out(r.y.shape), lse({c.B, c.H, c.Lq}), delta({c.B, c.H, c.Lq}), eq(q.shape), ek(k.shape), ev(v.shape);
    launch(row_blocks(c.Lq), heads, kWarps * 32, forward_smem_bytes(c.d),
           [&] { attention_forward_kernel(s, q.v.data(), k.v.data(), v.v.data(), mp, out.v.data(), lse.v.data()); });
    launch(delta_blocks(rows), 1, kDeltaThreads, 0,
           [&] { attention_delta_kernel(s, out.v.data(), gy.v.data(), delta.v.data()); });
    launch(row_blocks(c.Lq), heads, kWarps * 32, dq_smem_bytes(c.d), [&] {
      attention_dq_kernel(s, q.v.data(), k.v.data(), v.v.data(), mp, gy.v.data(), lse.v.data(), delta.v.data(),
                          eq.v.data());
    });
    launch(row_blocks(c.Lk), heads, kWarps * 32, dkv_smem_bytes(c.d), [&] {
      attention_dkv_kernel(s, q.v.data(), k.v.data(), v.v.data(), mp, gy.v.data(), lse.v.data(), delta.v.data(),
                           ek.v.data(), ev.v.data());
    });

    const std::string l = c.label();
    const Tensor* got[4] = {&out, &eq, &ek, &ev};
    const Tensor* ref[4] = {&r.y, &r.gq, &r.gk, &r.gv};
    const char* names[4] = {"y", "dq", "dk", "dv"};
    std::printf("    %s:", l.c_str());
    for (int i = 0; i < 4; ++i) {
      const double e = max_rel_error(*got[i], *ref[i]);
      std::printf(" %s %.1e", names[i], e);
      CHECK(e < kTol, l + " " + names[i] + ": outside the fp32 bound");
    }
    std::printf("\n");
    CHECK(masked_entry_attends_to_nothing(c, out, eq, ek, ev, &lse),
          l + ": the entry with every key masked has nonzero outputs or gradients, or a finite lse");
  }
}

// The wide-head path's row softmax (cuda/attention_wide_kernels.cuh), as attention_wide.cu launches
// it (one block per row): probabilities and log-sum-exp against float64, masked keys 0, a fully
// masked row all zeros with lse -inf.
TEST(wide_attention_softmax_on_emulated_gpu) {
  const int64_t rows = 3, Lk = 300;
  for (const bool masked : {false, true}) {
    Tensor P = randn({rows, Lk}, 3.f);
    const Tensor scores = P;
    Tensor mask({Lk}, 1.f), lse({rows});
    if (masked)
      for (int64_t j = 0; j < Lk; j += 4) mask.v[j] = 0.f;
    launch((unsigned)rows, 1, kSoftmaxThreads, 0,
           [&] { masked_softmax_rows(P.v.data(), Lk, masked ? mask.v.data() : nullptr, lse.v.data()); });
    double worst = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double m = -INFINITY, sum = 0;
      for (int64_t j = 0; j < Lk; ++j)
        if (mask.v[j] != 0.f) m = std::max(m, (double)scores.v[r * Lk + j]);
      for (int64_t j = 0; j < Lk; ++j)
        if (mask.v[j] != 0.f) sum += std::exp(scores.v[r * Lk + j] - m);
      for (int64_t j = 0; j < Lk; ++j) {
        const double want = mask.v[j] != 0.f ? std::exp(scores.v[r * Lk + j] - m) / sum : 0.0;
        worst = std::max(worst, std::abs(P.v[r * Lk + j] - want));
      }
      worst = std::max(worst, std::abs(lse.v[r] - (m + std::log(sum))) / std::abs(m + std::log(sum)));
    }
    std::printf("    wide softmax %s: max error %.1e\n", masked ? "masked" : "unmasked", worst);
    CHECK(worst < 1e-5, "wide softmax differs from float64");
  }
  Tensor P = randn({1, 40}), none({40}, 0.f), lse({1});
  launch(1, 1, kSoftmaxThreads, 0, [&] { masked_softmax_rows(P.v.data(), 40, none.v.data(), lse.v.data()); });
  bool zero = lse.v[0] == -INFINITY;
  for (float p : P.v) zero = zero && p == 0.f;
  CHECK(zero, "a row with every key masked is not all zeros with lse -inf");
}
