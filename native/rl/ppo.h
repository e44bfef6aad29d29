// PPO's clipped surrogate over per-sample log-probs (DDPO's loss):
//   A = clip(advantage, -M, M), ratio = exp(lp_new - lp_old)
//   loss = mean_b max(-A ratio, -A clip(ratio, 1 - e, 1 + e))
//   approx_kl = 0.5 mean (lp_new - lp_old)^2, clipfrac = mean(|ratio - 1| > e)
// d loss / d lp_new is -A ratio / B where the unclipped term is the max (or the ratio is inside
// the clip range), else 0. Chained through the DDIM step backward it seeds the UNet backward.
#pragma once
#include <cstdint>

namespace cxrl {

struct PpoArgs {
  int64_t batch = 0;
  const double* log_prob = nullptr;
  const double* old_log_prob = nullptr;
  const double* advantages = nullptr;
  double clip_range = 1e-4;
  double adv_clip_max = 5.0;
};

struct PpoStats {
  double loss = 0, approx_kl = 0, clipfrac = 0;
};

PpoStats ppo_loss_cpu(const PpoArgs& a, double* grad_log_prob);

}  // namespace cxrl
