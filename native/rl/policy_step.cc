#include "rl/policy_step.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "ops/shape_ops.h"
#include "rl/guided_step.h"

namespace cxrl {
namespace {

void check_args(const PolicyStepArgs& a, int64_t B, int64_t rows) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("policy step: " + what);
  };
  need(a.sample_shape.size() == 4 && B > 0, "sample shape must be [B, C, H, W]");
  need(a.sample && a.prev_sample, "sample and prevSample are required");
  need((int64_t)a.timesteps.size() == B, "one timestep per sample");
  need((int64_t)a.old_log_prob.size() == B && (int64_t)a.advantages.size() == B,
       "one old log-prob and one advantage per sample");
  need((int64_t)a.step.alpha_bar_t.size() == B && (int64_t)a.step.alpha_bar_prev.size() == B,
       "one alpha-bar pair per sample");
  need(a.context.ndim() == 3 && a.context.dim(0) == rows, "context must be [" + std::to_string(rows) +
                                                              ", L, D] (unconditional rows first when guided), got " +
                                                              shape_str(a.context.shape));
  need(a.mask.empty() || a.mask.shape == Shape{rows, a.context.dim(1)}, "mask must be [rows, L]");
  need(a.kl_weight == 0 || a.anchor_mean, "the KL term needs the anchor's step means");
}

}  // namespace

double ddim_sigma(double alpha_bar_t, double alpha_bar_prev) {
  return std::sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev));
}

PolicyStepResult policy_step(UNet2DCondition& unet, const PolicyStepArgs& a) {
  const int64_t B = a.sample_shape.empty() ? 0 : a.sample_shape[0];
  const bool guided = a.step.guidance_scale != 1.f;
  const int64_t rows = guided ? 2 * B : B;
  check_args(a, B, rows);
  const Device d = unet.params().device();
  const int64_t n = shape_numel(a.sample_shape);  // values of x_t

  // The UNet's batch: x_t twice when guided (unconditional rows first), each row's timestep.
  const Tensor x_t = host_array_on(a.sample, a.sample_shape, d);
  const Tensor x = guided_unet_batch(x_t, guided);
  const Tensor t = guided_timesteps(a.timesteps, rows, d);
  const Tensor context = a.context.to(d);  // to its own device: a copy (shared on a device)
  const Tensor mask = a.mask.empty() ? a.mask : a.mask.to(d);
  const Tensor prev = host_array_on(a.prev_sample, a.sample_shape, d);

  const Tensor out = unet.forward(x, t, context, mask.empty() ? nullptr : &mask);

  // The step at the stored x_prev: the new log-probs, on the device the tensors are on.
  DdimStepArgs s = guided_step_args(a.step, x_t, out, guided);
  s.noise = nullptr;
  s.noise_source = NoiseSource::kGivenPrevSample;
  s.prev_sample_in = step_values(prev);
  PolicyStepResult r;
  r.log_prob.resize(B);
  ddim_step_on(d, s, nullptr, r.log_prob.data());

  PpoArgs p;
  p.batch = B;
  p.log_prob = r.log_prob.data();
  p.old_log_prob = a.old_log_prob.data();
  p.advantages = a.advantages.data();
  p.clip_range = a.clip_range;
  p.adv_clip_max = a.adv_clip_max;
  std::vector<double> grad_lp(B);
  r.ppo = ppo_loss_cpu(p, grad_lp.data());
  for (double& g : grad_lp) g *= a.loss_scale;

  // d(loss)/d(UNet output): the step backward writes both halves (unconditional first).
  Tensor grad_out = Tensor::uninitialized(out.shape, d);
  ddim_step_backward_on(d, s, grad_lp.data(), step_values(grad_out) + (guided ? n : 0),
                        guided ? step_values(grad_out) : nullptr);

  if (a.anchor_mean) {
    // Per element, KL(N(mu, std^2) || N(mu_a, std^2)) = (mu - mu_a)^2 / (2 std^2), and the step's
    // log-density (a mean per element) at x_prev = mu_a is -KL - log std - log sqrt(2 pi): the fused
    // kernel gives the KL's value, and through its backward the gradient to both guidance halves.
    const Tensor anchor = host_array_on(a.anchor_mean, a.sample_shape, d);
    DdimStepArgs k = s;
    k.prev_sample_in = step_values(anchor);
    std::vector<double> lp_anchor(B);
    ddim_step_on(d, k, nullptr, lp_anchor.data());
    for (int64_t b = 0; b < B; ++b)
      r.kl_anchor += -lp_anchor[b] -
                     std::log(a.step.eta * ddim_sigma(a.step.alpha_bar_t[b], a.step.alpha_bar_prev[b])) -
                     0.5 * std::log(2 * M_PI);
    r.kl_anchor /= (double)B;
    const std::vector<double> grad_kl(B, -a.kl_weight * a.loss_scale / (double)B);
    Tensor grad_kl_out = Tensor::uninitialized(out.shape, d);
    ddim_step_backward_on(d, k, grad_kl.data(), step_values(grad_kl_out) + (guided ? n : 0),
                          guided ? step_values(grad_kl_out) : nullptr);
    add_inplace(&grad_out, grad_kl_out);
  }

  UNetGrads g = unet.backward(grad_out);
  r.grad_context = g.encoder_hidden_states.on_device() ? g.encoder_hidden_states.to(Device::kCpu)
                                                       : std::move(g.encoder_hidden_states);
  return r;
}

}  // namespace cxrl
