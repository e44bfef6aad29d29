// The GroupNorm / LayerNorm kernels (cuda/norm_kernels.cuh) on the emulated GPU of
// tests/cuda_emulation.h, with norm.cu's launch geometry, against the CPU twins (ops/norm.h):
// output, statistics, the fused SiLU and its pre-activation, the input gradient and the accumulated
// gamma / beta gradients. One case has groups longer than a slice (8192 values, one of them
// uneven), so the in-order merges of the slice moments and of the input gradient's slice sums run;
// two are LayerNorms (S = 1, G = 1), whose parameter gradients are per-column sums
// (cuda/column_sums_kernels.cuh), one of them over several column tiles and row chunks.

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <algorithm>
#include <cstdio>
#include <string>

#include "cuda/column_sums_kernels.cuh"
#include "cuda/norm_kernels.cuh"
#include "harness.h"
#include "ops/norm.h"

using namespace cxrl;
using namespace cxrl::test;

namespace {

// norm.cu's forward and backward, on the emulated GPU.
void emulated_norm(const NormShape& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, bool silu,
                   const Tensor& gy, Tensor* y, Tensor* mean, Tensor* rstd, Tensor* pre, Tensor* gx, Tensor* ggamma,
                   Tensor* gbeta) {
  const int64_t rows = s.B * s.G, len = s.C / s.G * s.S, slices = norm_slices(len);
  std::vector<SliceMoments> moments(rows * slices);
  const dim3 per_slice((unsigned)(rows * slices)), threads(kNormThreads);
  emulation::launch(per_slice, threads, 0, [&] { norm_slice_moments(s, x.v.data(), slices, moments.data()); });
  emulation::launch(
      dim3(finish_blocks(rows)), dim3(kFinishThreads), 0,
      [&] { norm_finish_stats(rows, slices, moments.data(), eps, mean->v.data(), rstd->v.data()); },
      emulation::Threads::kSequential);
  emulation::launch(
      per_slice, threads, 0,
      [&] {
        norm_apply(s, x.v.data(), gamma.v.data(), beta.v.data(), mean->v.data(), rstd->v.data(), slices, y->v.data(),
                   silu, silu ? pre->v.data() : nullptr);
      },
      emulation::Threads::kSequential);
  std::vector<SliceGradSums> sums(rows * slices);
  emulation::launch(per_slice, threads, 0, [&] {
    norm_grad_slice_sums(s, x.v.data(), gamma.v.data(), mean->v.data(), rstd->v.data(), gy.v.data(), slices,
                         sums.data());
  });
  emulation::launch(
      per_slice, threads, 0,
      [&] {
        norm_input_grad_apply(s, x.v.data(), gamma.v.data(), mean->v.data(), rstd->v.data(), gy.v.data(), slices,
                              sums.data(), gx->v.data());
      },
      emulation::Threads::kSequential);
  if (s.S == 1) {  // LayerNorm's parameter gradients: per-column sums (column_sums.cuh's launches)
    const int64_t chunks = column_chunks(s.B);
    std::vector<double> partial(2 * chunks * s.C);
    const NormParamValues values{s, x.v.data(), mean->v.data(), rstd->v.data(), gy.v.data()};
    emulation::launch(dim3(column_tiles((int)s.C), (unsigned)chunks), dim3(kColumnSumThreads), 0,
                      [&] { column_partials_kernel<2>(s.B, (int)s.C, values, partial.data()); });
    emulation::launch(
        dim3((unsigned)((s.C + kColumnFinishThreads - 1) / kColumnFinishThreads)), dim3(kColumnFinishThreads), 0,
        [&] {
          column_finish_kernel<2>(partial.data(), chunks, (int)s.C,
                                  ColumnSumOutputs<2>{{ggamma->v.data(), gbeta->v.data()}});
        },
        emulation::Threads::kSequential);
    return;
  }
  emulation::launch(dim3((unsigned)s.C), threads, 0, [&] {
    norm_param_grad_kernel(s, x.v.data(), mean->v.data(), rstd->v.data(), gy.v.data(), ggamma->v.data(),
                           gbeta->v.data());
  });
}

}  // namespace

TEST(norm_kernels_on_emulated_gpu_match_cpu) {
  constexpr double kTol = 1e-4;
  struct NormCase {
    const char* name;
    int64_t B, C, H, W, G;
    bool silu, layer_norm;
  };
  for (const NormCase c :
       {NormCase{"GroupNorm+SiLU, groups of 2 x 4500 values (two slices)", 2, 4, 75, 60, 2, true, false},
        NormCase{"GroupNorm, 8 groups", 3, 16, 5, 7, 8, false, false},
        NormCase{"LayerNorm over 48", 5, 48, 1, 1, 1, false, true},
        NormCase{"LayerNorm over 70, 700 rows (3 column tiles x 3 row chunks)", 700, 70, 1, 1, 1, false, true}}) {
    const Tensor x = c.layer_norm ? randn({c.B, c.C}, 2.f) : randn({c.B, c.C, c.H, c.W}, 2.f);
    const Tensor gamma = randn({c.C}), beta = randn({c.C}), gy = randn(x.shape);
    const float eps = 1e-5f;
    NormStats stats;
    Tensor pre_cpu, gx_cpu, gg_cpu = randn({c.C}), gb_cpu = randn({c.C});
    const Tensor gg0 = gg_cpu, gb0 = gb_cpu;
    Tensor y_cpu;
    if (c.layer_norm) {
      y_cpu = layer_norm_forward(x, gamma, beta, eps, &stats);
      layer_norm_backward(x, gamma, stats, gy, &gx_cpu, &gg_cpu, &gb_cpu);
    } else if (c.silu) {
      y_cpu = group_norm_silu_forward(x, (int)c.G, gamma, beta, eps, &stats, &pre_cpu);
      group_norm_backward(x, (int)c.G, gamma, stats, gy, &gx_cpu, &gg_cpu, &gb_cpu);
    } else {
      y_cpu = group_norm_forward(x, (int)c.G, gamma, beta, eps, &stats);
      group_norm_backward(x, (int)c.G, gamma, stats, gy, &gx_cpu, &gg_cpu, &gb_cpu);
    }
    const NormShape s{c.B, c.C, c.layer_norm ? 1 : c.H * c.W, c.G};
    Tensor y(x.shape), mean({c.B * c.G}), rstd({c.B * c.G}), pre(x.shape), gx(x.shape), gg = gg0, gb = gb0;
    emulated_norm(s, x, gamma, beta, eps, c.silu, gy, &y, &mean, &rstd, &pre, &gx, &gg, &gb);
    std::printf("    %s:", c.name);
    auto expect = [&](const char* what, const Tensor& got, const Tensor& ref) {
      const double e = max_rel_error(got, ref);
      std::printf(" %s %.1e", what, e);
      CHECK(e < kTol, std::string(c.name) + " " + what + ": outside the fp32 bound");
    };
    expect("y", y, y_cpu);
    expect("mean", mean, stats.mean);
    expect("rstd", rstd, stats.rstd);
    if (c.silu) expect("pre-SiLU", pre, pre_cpu);
    expect("gx", gx, gx_cpu);
    expect("ggamma", gg, gg_cpu);
    expect("gbeta", gb, gb_cpu);
    std::printf("\n");
  }
}
