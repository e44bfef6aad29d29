// One micro-batch of denoising pretraining in the engine, the pretraining counterpart of the RL
// timestep (rl/policy_step.h): UNet forward at the noised sample, the mean-squared error against the
// target (the noise, for epsilon prediction), and the backward of loss_scale * loss, on the UNet's
// device. Parameter gradients accumulate in the UNet; the host sees the loss and d/d(context) (for
// the text encoder's backward).
#pragma once
#include "model/unet.h"

namespace cxrl {

struct DenoiseStepArgs {
  Tensor sample;           // x_t [B, C, H, W]
  Tensor timesteps;        // [B]
  Tensor context;          // [B, L, D]
  Tensor mask;             // [B, L], or empty (no padding)
  Tensor target;           // what the UNet should predict, [B, C, H, W]
  float loss_scale = 1.f;  // the gradient is of loss_scale * loss (1 / micro-batches per step)
};

struct DenoiseStepResult {
  double loss = 0;      // mean squared error, unscaled
  Tensor grad_context;  // d(loss_scale * loss) / d(context), host, [B, L, D]
};

// Any tensor may start on the CPU or the UNet's device. Throws std::invalid_argument naming the
// argument when shapes disagree.
DenoiseStepResult denoise_step(UNet2DCondition& unet, const DenoiseStepArgs& a);

}  // namespace cxrl
