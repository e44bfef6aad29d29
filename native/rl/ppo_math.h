// Per-sample PPO terms shared by the CPU and CUDA kernels.
#pragma once
#include <cmath>

#include "core/philox.h"

namespace cxrl {

struct PpoTerms {
  double loss, grad, kl, clipped;
};

CXRL_HD PpoTerms ppo_terms(double lp, double old_lp, double adv, double clip_range, double adv_max) {
  const double A = adv < -adv_max ? -adv_max : (adv > adv_max ? adv_max : adv);
  const double d = lp - old_lp;
  const double ratio = exp(d);
  const double lo = 1.0 - clip_range, hi = 1.0 + clip_range;
  const double clipped_ratio = ratio < lo ? lo : (ratio > hi ? hi : ratio);
  const double unclipped_loss = -A * ratio, clipped_loss = -A * clipped_ratio;
  const bool inside = ratio >= lo && ratio <= hi;
  const double loss = unclipped_loss > clipped_loss ? unclipped_loss : clipped_loss;
  // The max picks the unclipped branch (gradient -A ratio) unless the clipped one is larger and
  // constant (ratio outside the range); inside the range both branches are the same function.
  const double grad = (unclipped_loss >= clipped_loss || inside) ? -A * ratio : 0.0;
  return {loss, grad, 0.5 * d * d, fabs(ratio - 1.0) > clip_range ? 1.0 : 0.0};
}

}  // namespace cxrl
