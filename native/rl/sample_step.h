// One step of guided DDIM sampling in the engine, the sampling counterpart of the RL timestep
// (policy_step.h): the UNet over [uncond; cond] rows at x_t, then the fused step (Philox noise of
// the given seed and stream offset) to x_prev and its log-prob, and, when asked, the step's mean
// (the same step without noise: the RL stage's KL anchor). x_t and x_prev stay on the UNet's
// device, so a sampling loop moves nothing between steps.
#pragma once
#include <vector>

#include "model/unet.h"
#include "rl/ddim_step.h"

namespace cxrl {

struct SampleStepArgs {
  Tensor sample;                 // x_t [B, C, H, W], on the UNet's device (moved there if not)
  std::vector<float> timesteps;  // one per sample
  // [rows, L, D] and [rows, L] (or an empty mask): rows = 2B, unconditional half first, when
  // guided (guidance scale != 1), else B.
  Tensor context, mask;
  // Alpha-bars per sample, eta, guidance scale, prediction, clipping, seed and stream offset
  // (noise source: seeded); its pointers are ignored.
  DdimStepArgs step;
  bool keep_mean = false;
};

struct SampleStepResult {
  Tensor prev_sample;            // x_prev, on the UNet's device
  std::vector<double> log_prob;  // one per sample
  Tensor mean;                   // with keep_mean: the step's mean, on the UNet's device
};

// Throws std::invalid_argument naming the argument when shapes or lengths disagree.
SampleStepResult sample_step(UNet2DCondition& unet, const SampleStepArgs& a);

}  // namespace cxrl
