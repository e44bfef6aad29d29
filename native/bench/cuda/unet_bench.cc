#include "bench/cuda/unet_bench.h"

#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <vector>

#include "core/grad_mode.h"
#include "core/precision.h"
#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/rl_cuda.h"
#include "io/json.h"
#include "model/optimizer.h"
#include "model/unet.h"
#include "model/unet_config.h"
#include "ops/mse_loss.h"

namespace cxrl {
namespace {

using Clock = std::chrono::steady_clock;

// Wall seconds per call of fn (after one warm-up call), the device synchronised around it.
template <typename Fn>
double seconds_per_call(Fn fn, int iters) {
  fn();
  check(cudaDeviceSynchronize(), "warm-up");
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) fn();
  check(cudaDeviceSynchronize(), "timing");
  return std::chrono::duration<double>(Clock::now() - t0).count() / iters;
}

Tensor random_on_device(Shape s, uint64_t seed) {
  Tensor t = Tensor::uninitialized(std::move(s));
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& v : t.v) {  // a cheap uniform in [-1, 1): the values do not matter for timing
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v = (float)((x >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
  }
  return t.to(Device::kCuda);
}

}  // namespace

std::string bench_unet_json(const UNetBenchConfig& c) {
  const UNetConfig cfg = UNetConfig::from_json(Json::parse_file(c.config_file));
  const auto t_build = Clock::now();
  UNet2DCondition unet(cfg, 1);
  unet.params().to(Device::kCuda);
  const double build_s = std::chrono::duration<double>(Clock::now() - t_build).count();
  const int64_t C = cfg.in_channels, D = cfg.cross_attention_dim, S = c.latent;
  std::vector<Param*> params;
  for (const auto& p : unet.params().all()) params.push_back(p.get());
  AdamConfig adam;
  adam.lr = 1e-6f;
  AdamOptimizer opt(params, adam);

  const int B = c.train_batch, rows = 2 * c.sample_batch, N = (int)(C * S * S);
  const Tensor x = random_on_device({B, C, S, S}, 1), target = random_on_device({B, C, S, S}, 2),
               ctx = random_on_device({B, c.context_length, D}, 3), t = Tensor({B}, 500.f).to(Device::kCuda);
  const Tensor ctx_guided = random_on_device({rows, c.context_length, D}, 4),
               t_guided = Tensor({rows}, 500.f).to(Device::kCuda);
  std::ostringstream out;
  out << "{\"config\": \"" << c.config_file << "\", \"parameters\": " << unet.params().count()
      << ", \"build_and_upload_s\": " << build_s << ", \"latent\": " << S << ", \"context\": " << c.context_length;
  for (ComputePrecision p : {ComputePrecision::kFp32, ComputePrecision::kBf16}) {
    set_compute_precision(p);
    device_reset_peak();
    const double forward_s = seconds_per_call(
        [&] {
          NoGradGuard no_grad;
          unet.forward(x, t, ctx);
        },
        3);
    const double train_s = seconds_per_call(
        [&] {
          unet.params().zero_grad();
          const Tensor y = unet.forward(x, t, ctx);
          unet.backward(mse_loss_backward(y, target, 1.f));
          clip_grad_norm(params, 1.0);
          opt.step();
        },
        3);
    const size_t train_peak = device_memory_stats().peak_bytes_in_use;
    // The sampling loop: x_t stays on the device; each step runs the UNet over [uncond; cond] rows
    // and the fused guided step writes x_prev over x_t.
    Tensor xs = random_on_device({c.sample_batch, C, S, S}, 5);
    DdimStepArgs step;
    step.batch = c.sample_batch;
    step.per_sample = N;
    step.guidance_scale = 7.5f;
    step.eta = 0.0;
    step.alpha_bar_t.assign(c.sample_batch, 0.5);
    step.alpha_bar_prev.assign(c.sample_batch, 0.6);
    std::vector<double> lp(c.sample_batch);
    const double loop_s = seconds_per_call(
        [&] {
          NoGradGuard no_grad;
          for (int s = 0; s < c.sample_steps; ++s) {
            Tensor rows_in = Tensor::uninitialized({rows, C, S, S}, Device::kCuda);
            const size_t half = (size_t)c.sample_batch * N * sizeof(float);
            copy_on_device(rows_in.mutable_device_data(), xs.device_data(), half);
            copy_on_device(rows_in.mutable_device_data() + (size_t)c.sample_batch * N, xs.device_data(), half);
            const Tensor eps = unet.forward(rows_in, t_guided, ctx_guided);
            step.sample = xs.device_data();
            step.model_output_uncond = eps.device_data();
            step.model_output = eps.device_data() + (size_t)c.sample_batch * N;
            Tensor next = Tensor::uninitialized(xs.shape, Device::kCuda);
            ddim_step_cuda_resident(step, next.mutable_device_data(), lp.data());
            xs = std::move(next);
          }
        },
        1);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  ", \"%s\": {\"forward_batch%d_ms\": %.2f, \"train_step_batch%d_ms\": %.2f, "
                  "\"sampling_%d_steps_batch%d_s\": %.3f, \"train_peak_GiB\": %.2f}",
                  precision_name(p), B, forward_s * 1e3, B, train_s * 1e3, c.sample_steps, c.sample_batch, loop_s,
                  train_peak / 1073741824.0);
    out << buf;
  }
  set_compute_precision(ComputePrecision::kFp32);
  // The optimizer half of the step alone (the gradients of the last step are still there): the
  // gradient norm and clip, then AdamW over every tensor, each one launch for all of them.
  const double optimizer_s = seconds_per_call(
      [&] {
        clip_grad_norm(params, 1.0);
        opt.step();
      },
      5);
  out << ", \"clip_and_adamw_ms\": " << optimizer_s * 1e3 << ", \"tensors\": " << params.size();
  out << "}";
  return out.str();
}

}  // namespace cxrl
