#include "rl/policy_step.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "ops/gather.h"
#include "ops/shape_ops.h"
#include "rl/guided_step.h"

namespace cxrl {
namespace {

void check_args(const PolicyStepArgs& a, int64_t B, int64_t rows) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("policy step: " + what);
  };
  need(a.sample.ndim() == 4 && B > 0, "sample must be [B, C, H, W], got " + shape_str(a.sample.shape));
  need(a.prev_sample.shape == a.sample.shape,
       "prevSample must be " + shape_str(a.sample.shape) + ", got " + shape_str(a.prev_sample.shape));
  need(a.anchor_mean.empty() || a.anchor_mean.shape == a.sample.shape,
       "anchorMean must be " + shape_str(a.sample.shape) + ", got " + shape_str(a.anchor_mean.shape));
  need((int64_t)a.timesteps.size() == B, "one timestep per sample");
  need((int64_t)a.old_log_prob.size() == B && (int64_t)a.advantages.size() == B,
       "one old log-prob and one advantage per sample");
  need((int64_t)a.step.alpha_bar_t.size() == B && (int64_t)a.step.alpha_bar_prev.size() == B,
       "one alpha-bar pair per sample");
  need(a.context.ndim() == 3 && a.context.dim(0) == rows, "context must be [" + std::to_string(rows) +
                                                              ", L, D] (unconditional rows first when guided), got " +
                                                              shape_str(a.context.shape));
  need(a.mask.empty() || a.mask.shape == Shape{rows, a.context.dim(1)}, "mask must be [rows, L]");
  need(a.kl_weight == 0 || !a.anchor_mean.empty(), "the KL term needs the anchor's step means");
  need(a.context_grad_tokens >= -1 && a.context_grad_tokens <= a.context.dim(1),
       "contextGradTokens must be -1 (all) or lie in [0, L = " + std::to_string(a.context.dim(1)) + "]");
}

// The last K tokens of the last B rows of a [rows, L, D] tensor: [B, K, D].
Tensor conditional_token_tail(const Tensor& g, int64_t B, int64_t K) {
  const int64_t rows = g.dim(0), L = g.dim(1), D = g.dim(2);
  std::vector<Span> spans;
  for (int64_t b = 0; b < B; ++b) spans.push_back({&g, ((rows - B + b) * L + L - K) * D});
  return gather_spans(spans, K * D, {B, K, D});
}

}  // namespace

double ddim_sigma(double alpha_bar_t, double alpha_bar_prev) {
  return std::sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev));
}

PolicyStepResult policy_step(UNet2DCondition& unet, const PolicyStepArgs& a) {
  const int64_t B = a.sample.ndim() == 4 ? a.sample.dim(0) : 0;
  const bool guided = a.step.guidance_scale != 1.f;
  const int64_t rows = guided ? 2 * B : B;
  check_args(a, B, rows);
  const Device d = unet.params().device();
  const int64_t n = a.sample.numel();  // values of x_t

  // The UNet's batch: x_t twice when guided (unconditional rows first), each row's timestep.
  const Tensor x_t = a.sample.to(d);  // to its own device: a copy (shared on a device)
  const Tensor x = guided_unet_batch(x_t, guided);
  const Tensor t = guided_timesteps(a.timesteps, rows, d);
  const Tensor context = a.context.to(d);  // to its own device: a copy (shared on a device)
  const Tensor mask = a.mask.empty() ? a.mask : a.mask.to(d);
  const Tensor prev = a.prev_sample.to(d);

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

  if (!a.anchor_mean.empty()) {
    // Per element, KL(N(mu, std^2) || N(mu_a, std^2)) = (mu - mu_a)^2 / (2 std^2), and the step's
    // log-density (a mean per element) at x_prev = mu_a is -KL - log std - log sqrt(2 pi): the fused
    // kernel gives the KL's value, and through its backward the gradient to both guidance halves.
    const Tensor anchor = a.anchor_mean.to(d);
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
  if (a.context_grad_tokens == 0) return r;
  Tensor grad_context = a.context_grad_tokens > 0
                            ? conditional_token_tail(g.encoder_hidden_states, B, a.context_grad_tokens)
                            : std::move(g.encoder_hidden_states);
  r.grad_context = grad_context.on_device() ? grad_context.to(Device::kCpu) : std::move(grad_context);
  return r;
}

}  // namespace cxrl
