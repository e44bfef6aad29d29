// The per-element math of the DDIM step, shared by the CPU kernel and the CUDA kernel so that both
// compute exactly the same expression.
#pragma once
#include "core/philox.h"
#include "rl/ddim_step.h"

namespace cxrl {

// log sqrt(2 pi): the Gaussian's normalising term in the per-sample log-probability.
constexpr double kHalfLog2Pi = 0.91893853320467274178;

struct ElementTerms {
  double mu;      // mean of x_prev
  double dmu_dm;  // d mu / d (combined model output)
};

// Divisions use the per-sample reciprocals.
CXRL_HD ElementTerms ddim_element(float x, double m, const StepCoefficients& c, PredictionType kind, bool clip,
                                  double r, bool use_clipped) {
  double x0, e, dx0, de;
  if (kind == PredictionType::kEpsilon) {
    e = m;
    x0 = (x - c.sqrt_1ma * e) * c.inv_sqrt_a;
    dx0 = -c.sqrt_1ma * c.inv_sqrt_a;
    de = 1.0;
  } else if (kind == PredictionType::kSample) {
    x0 = m;
    e = (x - c.sqrt_a * x0) * c.inv_sqrt_1ma;
    dx0 = 1.0;
    de = -c.sqrt_a * c.inv_sqrt_1ma;
  } else {
    x0 = c.sqrt_a * x - c.sqrt_1ma * m;
    e = c.sqrt_a * m + c.sqrt_1ma * x;
    dx0 = -c.sqrt_1ma;
    de = c.sqrt_a;
  }
  if (clip) {
    if (x0 < -r || x0 > r) dx0 = 0.0;  // clamp passes the gradient only inside [-r, r]
    x0 = x0 < -r ? -r : (x0 > r ? r : x0);
  }
  if (use_clipped) {  // eps recomputed from the clipped x0
    e = (x - c.sqrt_a * x0) * c.inv_sqrt_1ma;
    de = -c.sqrt_a * c.inv_sqrt_1ma * dx0;
  }
  return {c.sqrt_ap * x0 + c.dir * e, c.sqrt_ap * dx0 + c.dir * de};
}

// Guidance combination in double: with w = 5 the float32 difference would lose bits that matter
// at small noise levels. Free in a memory-bound kernel.
CXRL_HD double combined_output(const float* cond, const float* uncond, float w, int64_t i) {
  return uncond ? (double)uncond[i] + (double)w * ((double)cond[i] - (double)uncond[i]) : (double)cond[i];
}

}  // namespace cxrl
