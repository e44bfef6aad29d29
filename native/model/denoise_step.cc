#include "model/denoise_step.h"

#include <stdexcept>
#include <string>

#include "ops/mse_loss.h"

namespace cxrl {
namespace {

void check_args(const DenoiseStepArgs& a) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("denoise step: " + what);
  };
  need(a.sample.ndim() == 4, "sample must be [B, C, H, W], got " + shape_str(a.sample.shape));
  const int64_t B = a.sample.dim(0);
  need(a.target.shape == a.sample.shape,
       "target must be " + shape_str(a.sample.shape) + " like the sample, got " + shape_str(a.target.shape));
  need(a.timesteps.shape == Shape{B},
       "timestep must be [" + std::to_string(B) + "], got " + shape_str(a.timesteps.shape));
  need(a.context.ndim() == 3 && a.context.dim(0) == B,
       "context must be [" + std::to_string(B) + ", L, D], got " + shape_str(a.context.shape));
  need(a.mask.empty() || a.mask.shape == Shape{B, a.context.dim(1)},
       "mask must be [B, L], got " + shape_str(a.mask.shape));
}

}  // namespace

DenoiseStepResult denoise_step(UNet2DCondition& unet, const DenoiseStepArgs& a) {
  check_args(a);
  const Device d = unet.params().device();
  const Tensor x = a.sample.to(d), t = a.timesteps.to(d), context = a.context.to(d), target = a.target.to(d);
  const Tensor mask = a.mask.empty() ? a.mask : a.mask.to(d);
  const Tensor pred = unet.forward(x, t, context, mask.empty() ? nullptr : &mask);
  DenoiseStepResult r;
  r.loss = mse_loss_forward(pred, target);
  UNetGrads g = unet.backward(mse_loss_backward(pred, target, a.loss_scale));
  r.grad_context = g.encoder_hidden_states.on_device() ? g.encoder_hidden_states.to(Device::kCpu)
                                                       : std::move(g.encoder_hidden_states);
  return r;
}

}  // namespace cxrl
