#include "rl/sample_step.h"

#include <stdexcept>
#include <string>

#include "core/grad_mode.h"
#include "rl/guided_step.h"

namespace cxrl {

SampleStepResult sample_step(UNet2DCondition& unet, const SampleStepArgs& a) {
  const Device d = unet.params().device();
  const Tensor x = a.sample.to(d);
  if (x.ndim() != 4) throw std::invalid_argument("sample step: sample must be [B, C, H, W], got " + shape_str(x.shape));
  const int64_t B = x.dim(0);
  const bool guided = a.step.guidance_scale != 1.f;
  const int64_t rows = guided ? 2 * B : B;
  if ((int64_t)a.timesteps.size() != B) throw std::invalid_argument("sample step: one timestep per sample");
  if (a.context.ndim() != 3 || a.context.dim(0) != rows)
    throw std::invalid_argument("sample step: context must be [" + std::to_string(rows) +
                                ", L, D] (unconditional rows first when guided), got " + shape_str(a.context.shape));

  NoGradGuard inference;                   // sampling keeps nothing for a backward
  const Tensor context = a.context.to(d);  // to its own device: a copy (shared on a device)
  const Tensor mask = a.mask.empty() ? a.mask : a.mask.to(d);
  const Tensor out = unet.forward(guided_unet_batch(x, guided), guided_timesteps(a.timesteps, rows, d), context,
                                  mask.empty() ? nullptr : &mask);

  DdimStepArgs s = guided_step_args(a.step, x, out, guided);
  s.noise_source = NoiseSource::kSeeded;
  s.noise = s.prev_sample_in = nullptr;
  SampleStepResult r;
  r.prev_sample = Tensor::uninitialized(x.shape, d);
  r.log_prob.resize(B);
  ddim_step_on(d, s, step_values(r.prev_sample), r.log_prob.data());
  if (a.keep_mean) {  // the same step with zero noise
    const Tensor zeros = Tensor::zeros(x.shape, d);
    DdimStepArgs m = s;
    m.noise_source = NoiseSource::kGivenNoise;
    m.noise = step_values(zeros);
    std::vector<double> unused(B);
    r.mean = Tensor::uninitialized(x.shape, d);
    ddim_step_on(d, m, step_values(r.mean), unused.data());
  }
  return r;
}

}  // namespace cxrl
