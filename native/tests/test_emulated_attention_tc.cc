// The tensor-core flash attention kernels (cuda/attention_tensor_core_kernels.cuh) run here, without
// a GPU, on the emulated device of tests/cuda_emulation.h: the operand staging against its
// definition, then forward, dQ and dK/dV against the fp32 CPU attention within the bf16 bound, over
// SD's head dims (40 padded to 48, 80, 160), one below a WMMA tile, cross-attention to masked
// tokens, lengths that are not multiples of the 64-row tiles, and a batch entry with every key
// masked; each kernel with two tile buffers (where they fit) bitwise equal to one. The emulated
// asynchronous copies land only when waited for, so a tile read too early reads NaN. This checks the
// kernels' indexing, tiling, pipelining, online softmax, masking and synchronisation (and WMMA's
// alignment rules) on every CI run; the same kernels on the H200 are checked by
// test_cuda_precision.cc.

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda/attention_tensor_core_kernels.cuh"
#include "harness.h"
#include "tests/attention_case.h"

using namespace cxrl;
using namespace cxrl::test;

namespace {

dim3 grid_over(int64_t rows, const AttentionShape& s) { return dim3(row_blocks(rows), (unsigned)(s.B * s.H)); }

// A [B, L, H d] operand staged as attention_tensor_core.cu stages it.
std::vector<bf16> staged(const Tensor& t, const AttentionShape& s, int64_t L) {
  std::vector<bf16> out((size_t)s.B * s.H * padded_rows(L) * padded_dim(s.d));
  emulation::launch_planes((int64_t)s.B * s.H, padded_rows(L) * padded_dim(s.d),
                           [&] { to_head_major_bf16(t.v.data(), s, L, out.data()); });
  return out;
}

struct KernelOutputs {
  Tensor out, lse, gq, gk, gv;
};

// Forward, dQ and dK/dV on staged operands, each with two tile buffers where pipeline_stages allows
// (pipelined) or with one.
KernelOutputs run_kernels(const AttentionCase& c, const AttentionReference& r, const std::vector<bf16>& qs,
                          const std::vector<bf16>& ks, const std::vector<bf16>& vs, const std::vector<bf16>& gs,
                          bool pipelined) {
  const AttentionShape s{c.B, c.H, c.d, c.Lq, c.Lk};
  const float* mp = c.mask ? r.mask.v.data() : nullptr;
  const int dp = padded_dim(c.d);
  const auto stages = [&](size_t (*smem_size)(int, int)) {
    return pipelined ? pipeline_stages(smem_size, dp, emulation::kDynamicSharedBytes) : 1;
  };
  KernelOutputs o{Tensor(r.y.shape), Tensor({c.B, c.H, c.Lq}), Tensor(r.q.shape), Tensor(r.k.shape), Tensor(r.v.shape)};
  const int forward_stages = stages(ForwardSmem::size);
  emulation::launch(grid_over(c.Lq, s), dim3(kWarps * 32), ForwardSmem::size(dp, forward_stages), [&] {
    (forward_stages == 2
         ? attention_forward_tc_kernel<2>
         : attention_forward_tc_kernel<1>)(s, qs.data(), ks.data(), vs.data(), mp, o.out.v.data(), o.lse.v.data());
  });
  // delta = sum_c dO O per query row, as attention.cu's fp32 kernel makes it.
  Tensor delta({c.B, c.H, c.Lq});
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.H; ++h)
      for (int i = 0; i < c.Lq; ++i) {
        float acc = 0.f;
        for (int e = 0; e < c.d; ++e) {
          const int64_t at = ((int64_t)b * c.Lq + i) * c.H * c.d + h * c.d + e;
          acc += o.out.v[at] * r.gy.v[at];
        }
        delta.v[((int64_t)b * c.H + h) * c.Lq + i] = acc;
      }
  const int dq_stages = stages(DqSmem::size), dkv_stages = stages(DkvSmem::size);
  emulation::launch(grid_over(c.Lq, s), dim3(kWarps * 32), DqSmem::size(dp, dq_stages), [&] {
    (dq_stages == 2 ? attention_dq_tc_kernel<2> : attention_dq_tc_kernel<1>)(s, qs.data(), ks.data(), vs.data(), mp,
                                                                             gs.data(), o.lse.v.data(), delta.v.data(),
                                                                             o.gq.v.data());
  });
  emulation::launch(grid_over(c.Lk, s), dim3(kWarps * 32), DkvSmem::size(dp, dkv_stages), [&] {
    (dkv_stages == 2 ? attention_dkv_tc_kernel<2>
                     : attention_dkv_tc_kernel<1>)(s, qs.data(), ks.data(), vs.data(), mp, gs.data(), o.lse.v.data(),
                                                   delta.v.data(), o.gk.v.data(), o.gv.v.data());
  });
  return o;
}

}  // namespace

TEST(tensor_core_attention_on_emulated_gpu_matches_cpu_within_bf16_bound) {
  constexpr double kBf16Tol = 2e-2;
  for (const AttentionCase c : {AttentionCase{1, 2, 40, 70, 70, false}, AttentionCase{2, 1, 40, 20, 77, true},
                                AttentionCase{1, 1, 80, 65, 30, false}, AttentionCase{1, 1, 160, 17, 70, true},
                                AttentionCase{1, 2, 8, 33, 9, false}}) {
    const AttentionReference r = attention_reference(c);
    const Tensor &q = r.q, &k = r.k, &v = r.v, &gy = r.gy;

    const AttentionShape s{c.B, c.H, c.d, c.Lq, c.Lk};
    const float* mp = c.mask ? r.mask.v.data() : nullptr;
    const int dp = padded_dim(c.d);
    const std::vector<bf16> qs = staged(q, s, c.Lq), ks = staged(k, s, c.Lk), vs = staged(v, s, c.Lk),
                            gs = staged(gy, s, c.Lq);
    bool staged_ok = true;  // [B, H, rows padded to 64, dp]: q rounded to bf16, zero past d and past Lq
    for (int b = 0; b < c.B; ++b)
      for (int h = 0; h < c.H; ++h)
        for (int64_t i = 0; i < padded_rows(c.Lq); ++i)
          for (int e = 0; e < dp; ++e) {
            const float x = e < c.d && i < c.Lq ? q.v[((b * c.Lq + i) * c.H + h) * c.d + e] : 0.f;
            const bf16 got = qs[(((int64_t)b * c.H + h) * padded_rows(c.Lq) + i) * dp + e];
            staged_ok = staged_ok && __bfloat162float(got) == __bfloat162float(__float2bfloat16_rn(x));
          }
    CHECK(staged_ok, c.label() + ": the staged q differs from its definition");
    // As attention_tensor_core.cu launches them (two tile buffers where they fit), then with one.
    const KernelOutputs got_pipelined = run_kernels(c, r, qs, ks, vs, gs, true),
                        got_single = run_kernels(c, r, qs, ks, vs, gs, false);
    const Tensor &out = got_pipelined.out, &lse = got_pipelined.lse, &eq = got_pipelined.gq, &ek = got_pipelined.gk,
                 &ev = got_pipelined.gv;
    CHECK(same_bits(out, got_single.out) && same_bits(lse, got_single.lse) && same_bits(eq, got_single.gq) &&
              same_bits(ek, got_single.gk) && same_bits(ev, got_single.gv),
          c.label() + ": two tile buffers give other values than one");

    const std::string l = c.label();
    const Tensor* got[4] = {&out, &eq, &ek, &ev};
    const Tensor* ref[4] = {&r.y, &r.gq, &r.gk, &r.gv};
    const char* names[4] = {"y", "dq", "dk", "dv"};
    std::printf("    %s:", l.c_str());
    for (int i = 0; i < 4; ++i) {
      const double e = max_rel_error(*got[i], *ref[i]);
      std::printf(" %s %.1e", names[i], e);
      CHECK(e < kBf16Tol, l + " " + names[i] + ": outside the bf16 bound");
      CHECK(e > 1e-6, l + " " + names[i] + ": as exact as fp32, so the operands were not rounded to bf16");
    }
    std::printf("\n");
    CHECK(masked_entry_attends_to_nothing(c, out, eq, ek, ev, &lse),
          l + ": the entry with every key masked has nonzero outputs or gradients, or a finite lse");
  }
}
