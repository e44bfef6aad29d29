#include <cuda_runtime.h>

#include <vector>

#include "bench/ddim_step_bench.h"
#include "bench/device_timing.h"
#include "cuda/ddim_step_device.cuh"

namespace cxrl {

StepTiming bench_ddim_step_cuda(const StepBenchConfig& c) {
  require_device();
  const int64_t batch = c.batch, per_sample = c.per_sample;
  const bool guidance = c.guidance;
  const NoiseSource source = c.source;
  const int iters = c.iters;
  const size_t n = (size_t)(batch * per_sample);
  DeviceBuffers buf;
  float* x = buf.alloc<float>(n);
  float* m = buf.alloc<float>(n);
  float* u = guidance ? buf.alloc<float>(n) : nullptr;
  float* given = buf.alloc<float>(n);
  float* prev = buf.alloc<float>(n);
  check(cudaMemset(x, 0, n * 4), "memset");
  check(cudaMemset(m, 0, n * 4), "memset");
  if (u) check(cudaMemset(u, 0, n * 4), "memset");
  check(cudaMemset(given, 0, n * 4), "memset");
  DdimStepArgs a;
  a.batch = batch;
  a.per_sample = per_sample;
  a.alpha_bar_t.assign(batch, 0.5);
  a.alpha_bar_prev.assign(batch, 0.6);
  a.sample = x;  // only used for validation on the host side below
  a.model_output = m;
  std::vector<StepCoefficients> coef = step_coefficients(a);
  DeviceStep s{};
  s.x = x;
  s.m = m;
  s.mu_in = u;
  s.w = 5.f;
  s.noise = source == NoiseSource::kGivenNoise ? given : nullptr;
  s.prev_in = source == NoiseSource::kGivenPrevSample ? given : nullptr;
  s.coef = buf.upload(coef.data(), coef.size());
  s.kind = PredictionType::kEpsilon;
  s.source = (int)source;
  s.seed = 1;
  s.N = per_sample;
  set_device_step_chunks(s, c.device_chunk);
  double* partial = buf.alloc<double>(batch * s.chunks);
  double* lp = buf.alloc<double>(batch);
  StepTiming t;
  t.fused_seconds = device_seconds_per_call(
      [&] {
        launch_ddim_step(s, batch, prev, partial, lp,
                         c.device_blocks_per_sm > 0 ? c.device_blocks_per_sm : kStepBlocksPerSm);
      },
      iters);
  t.bytes_moved = step_bytes(c);
  // Copy of the same number of bytes (half read, half written), device to device.
  const size_t copy_bytes = (size_t)(t.bytes_moved / 2);
  char* src = buf.alloc<char>(copy_bytes);
  char* dst = buf.alloc<char>(copy_bytes);
  t.copy_seconds = device_seconds_per_call([&] { cudaMemcpy(dst, src, copy_bytes, cudaMemcpyDeviceToDevice); }, iters);
  return t;
}

}  // namespace cxrl
