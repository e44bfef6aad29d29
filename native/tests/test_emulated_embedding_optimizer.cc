// The embedding and optimizer kernels (cuda/embedding_kernels.cuh, cuda/optimizer_kernels.cuh) on the
// emulated GPU of tests/cuda_emulation.h, launched as embedding.cu and optimizer.cu launch them,
// against the CPU twins: token lookup (bitwise) and its scatter-add backward with repeated ids, the
// sinusoidal timestep embedding, AdamW and Adam with L2 (bitwise: the same float arithmetic), the
// EMA, and the sum of squares and scale of gradient clipping.

// clang-format off: first, it defines the CUDA names the kernels use
#include "tests/cuda_emulation.h"
// clang-format on

#include <string>
#include <vector>

#include "cuda/embedding_kernels.cuh"
#include "cuda/optimizer_kernels.cuh"
#include "harness.h"
#include "model/optimizer.h"
#include "ops/embedding.h"
#include "ops/lookup.h"

using namespace cxrl;
using namespace cxrl::test;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, (double)std::abs(a.v[i] - b.v[i]));
  return d;
}

}  // namespace

TEST(embedding_kernels_on_emulated_gpu_match_cpu) {
  const int64_t n = 7, D = 5, vocab = 4;
  const std::vector<int32_t> ids = {3, 0, 3, 1, 3, 2, 0};  // repeated ids add into the same row
  const Tensor table = randn({vocab, D}), gy = randn({n, D});
  Tensor y({n, D});
  emulation::launch_elementwise(n * D, [&] { lookup_kernel(ids.data(), n, table.v.data(), D, y.v.data()); });
  CHECK(y.v == embedding_lookup_forward(ids.data(), n, table).v, "lookup differs");
  Tensor gt = randn({vocab, D}), gt_cpu = gt;
  emulation::launch_elementwise(n * D, [&] { lookup_backward_kernel(ids.data(), n, gy.v.data(), D, gt.v.data()); });
  embedding_lookup_backward(ids.data(), n, gy, &gt_cpu);
  CHECK(max_abs_diff(gt, gt_cpu) <= 1e-6, "lookup backward (scatter-add) differs");

  for (const bool flip : {true, false}) {
    TimestepEmbeddingSpec spec;
    spec.dim = 9;  // odd: a zero last column
    spec.flip_sin_to_cos = flip;
    spec.freq_shift = 1.f;
    const Tensor t({3}, std::vector<float>{0.f, 17.f, 999.f});
    const std::vector<float> freq = timestep_frequencies(spec);
    Tensor e({3, spec.dim});
    emulation::launch_elementwise(
        3 * spec.dim, [&] { timestep_kernel(t.v.data(), freq.data(), 3, spec.dim, spec.flip_sin_to_cos, e.v.data()); });
    const double d = max_abs_diff(e, timestep_embedding_forward(t, spec));
    CHECK(d <= 1e-6, "timestep embedding differs by " + std::to_string(d));
  }
}

TEST(optimizer_kernels_on_emulated_gpu_match_cpu) {
  const int64_t n = 1000;
  for (const bool decoupled : {true, false}) {
    AdamConfig cfg;
    cfg.lr = 1e-2f;
    cfg.weight_decay = 0.1f;
    cfg.decoupled = decoupled;
    Tensor p = randn({n}), m = randn({n}, 0.1f), v = randn({n}, 0.1f);
    for (float& x : v.v) x = std::abs(x);
    Tensor p_cpu = p, m_cpu = m, v_cpu = v;
    for (int64_t step = 1; step <= 3; ++step) {
      const Tensor g = randn({n});
      const AdamStepScalars k = adam_step_scalars(cfg, step);
      emulation::launch_elementwise(n, [&] { adam_kernel(k, p.v.data(), g.v.data(), m.v.data(), v.v.data(), n); });
      adam_update(k, &p_cpu, g, &m_cpu, &v_cpu);
    }
    CHECK(p.v == p_cpu.v && m.v == m_cpu.v && v.v == v_cpu.v,
          std::string(decoupled ? "AdamW" : "Adam (L2)") + " differs from the CPU step");
  }

  Tensor shadow = randn({n}), shadow_cpu = shadow;
  const Tensor live = randn({n});
  const float decay = 0.99f;
  emulation::launch_elementwise(n, [&] { ema_kernel(shadow.v.data(), live.v.data(), n, decay, 1.f - decay); });
  for (int64_t i = 0; i < n; ++i) shadow_cpu.v[i] = decay * shadow_cpu.v[i] + (1.f - decay) * live.v[i];
  CHECK(shadow.v == shadow_cpu.v, "EMA differs");

  // Sum of squares: sum_squares_blocks partials (grid-stride, block_sum in double), added in order
  // on the host; more values than the blocks' threads, so the grid stride loops.
  const Tensor x = randn({123457});
  std::vector<double> partial(sum_squares_blocks(x.numel()));
  emulation::launch(dim3(sum_squares_blocks(x.numel())), dim3(kElementwiseThreads), 0,
                    [&] { sum_squares_partials(x.v.data(), x.numel(), partial.data()); });
  double got = 0, want = 0;
  for (double s : partial) got += s;
  for (float e : x.v) want += (double)e * e;
  CHECK(std::abs(got - want) <= 1e-12 * want, "sum of squares " + std::to_string(got) + " vs " + std::to_string(want));
  Tensor scaled = x;
  emulation::launch_elementwise(x.numel(), [&] { scale_kernel(scaled.v.data(), 0.25f, x.numel()); });
  bool ok = true;
  for (int64_t i = 0; i < x.numel(); ++i) ok = ok && scaled.v[i] == x.v[i] * 0.25f;
  CHECK(ok, "scale differs");
}
