#include "rl/ppo.h"

#include <stdexcept>

#include "rl/ppo_math.h"

namespace cxrl {

PpoStats ppo_loss_cpu(const PpoArgs& a, double* grad) {
  if (a.batch <= 0) throw std::invalid_argument("ppo: empty batch");
  if (!(a.clip_range >= 0) || !(a.adv_clip_max > 0))
    throw std::invalid_argument("ppo: clip_range must be >= 0 and adv_clip_max > 0");
  PpoStats s;
  for (int64_t b = 0; b < a.batch; ++b) {
    const PpoTerms t = ppo_terms(a.log_prob[b], a.old_log_prob[b], a.advantages[b], a.clip_range, a.adv_clip_max);
    s.loss += t.loss;
    s.approx_kl += t.kl;
    s.clipfrac += t.clipped;
    if (grad) grad[b] = t.grad / a.batch;
  }
  s.loss /= a.batch;
  s.approx_kl /= a.batch;
  s.clipfrac /= a.batch;
  return s;
}

}  // namespace cxrl
