// One trained step of the RL update (CXRL-METHOD.md "Policy gradient") for B samples, the whole
// chain in the engine with its tensors on the UNet's device: guided UNet forward at the stored x_t
// -> fused DDIM step at the stored x_prev (the new log-prob) -> PPO clipped surrogate -> step
// backward to both guidance halves (plus, with an anchor, the KL trust-region term) -> UNet
// backward (parameter gradients accumulate in the UNet). The latents may already be on the UNet's
// device (the stored trajectory stays there); the host sees the statistics, the log-probs and the
// part of d/d(context) it asks for (the ACE tokens' gradient).
#pragma once
#include <vector>

#include "model/unet.h"
#include "rl/ddim_step.h"
#include "rl/ppo.h"

namespace cxrl {

struct PolicyStepArgs {
  // x_t [B, C, H, W], the stored x_prev and the anchor's step mean (the KL term; empty: none), each
  // on the CPU or the UNet's device.
  Tensor sample, prev_sample, anchor_mean;
  std::vector<float> timesteps;  // one per sample
  // The UNet's conditioning, host: [rows, L, D] and [rows, L] (or an empty mask); rows = 2B with
  // the unconditional half first when guided (guidance scale != 1), else B.
  Tensor context, mask;
  // Alpha-bars per sample, eta, guidance scale, prediction and clipping; its pointers are ignored.
  DdimStepArgs step;
  std::vector<double> old_log_prob, advantages;
  double clip_range = 1e-4, adv_clip_max = 5.0;
  double loss_scale = 1.0;  // this step's weight in the loss (1 / trained steps per sample)
  double kl_weight = 0.0;   // weight of KL(policy || anchor); needs anchor_mean
  // How much of d/d(context) comes back: -1 all of it; K > 0 the last K tokens of the conditional
  // rows, [B, K, D] (the appended ACE tokens), cut out on the device; 0 none (no ACE).
  int64_t context_grad_tokens = -1;
};

struct PolicyStepResult {
  PpoStats ppo;                  // of this step, unscaled
  double kl_anchor = 0;          // mean over samples of KL(policy || anchor) (0 without anchor)
  std::vector<double> log_prob;  // the new log-probs, one per sample
  Tensor grad_context;           // d(loss) / d(context), host: [rows, L, D], [B, K, D] or empty (above)
};

// Throws std::invalid_argument naming the argument when shapes or lengths disagree.
PolicyStepResult policy_step(UNet2DCondition& unet, const PolicyStepArgs& a);

// sigma_t of the DDIM step from alpha-bar t to alpha-bar prev:
// sqrt((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).
double ddim_sigma(double alpha_bar_t, double alpha_bar_prev);

}  // namespace cxrl
