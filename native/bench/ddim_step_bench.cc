#include "bench/ddim_step_bench.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "core/parallel.h"

namespace cxrl {

double step_bytes(const StepBenchConfig& c) {
  const int reads = 1 + (c.guidance ? 2 : 1) + (c.source == NoiseSource::kSeeded ? 0 : 1);
  return (double)c.batch * c.per_sample * 4 * (reads + 1);
}

StepTiming bench_ddim_step_cpu(const StepBenchConfig& c) {
  const size_t n = c.batch * c.per_sample;
  std::vector<float> x(n, 0.1f), m(n, 0.2f), u(n, 0.3f), given(n, 0.05f), prev(n);
  std::vector<double> lp(c.batch);
  DdimStepArgs a;
  a.batch = c.batch;
  a.per_sample = c.per_sample;
  a.sample = x.data();
  a.model_output = m.data();
  a.model_output_uncond = c.guidance ? u.data() : nullptr;
  a.guidance_scale = 5.f;
  a.alpha_bar_t.assign(c.batch, 0.5);
  a.alpha_bar_prev.assign(c.batch, 0.6);
  a.noise_source = c.source;
  a.noise = given.data();
  a.prev_sample_in = given.data();
  auto seconds = [&](auto fn) {
    fn();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < c.iters; ++i) fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / c.iters;
  };
  StepTiming t;
  t.fused_seconds = seconds([&] { ddim_step_cpu(a, prev.data(), lp.data()); });
  t.unfused_seconds = seconds([&] { ddim_step_unfused_cpu(a, prev.data(), lp.data()); });
  t.bytes_moved = step_bytes(c);
  // Threaded copy of the same bytes (half read, half written).
  const size_t cn = (size_t)(t.bytes_moved / 8);
  std::vector<float> cs(cn, 1.f), cd(cn);
  t.copy_seconds = seconds([&] {
    parallel_for((int64_t)cn, 1 << 16,
                 [&](int64_t s, int64_t e) { std::memcpy(cd.data() + s, cs.data() + s, (e - s) * 4); });
  });
  return t;
}

}  // namespace cxrl
