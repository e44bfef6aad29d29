// What the engine's RL timestep (policy_step.h) and its sampling step (sample_step.h) share: the
// UNet batch of a guided pass ([uncond; cond] rows: x_t twice), the step kernels run where the
// tensors are (the CPU, or a device's resident kernels), and raw value pointers on either side.
#pragma once
#include <vector>

#include "core/tensor.h"
#include "rl/ddim_step.h"

namespace cxrl {

// x [B, ...] twice along the batch when guided (rows 0..B-1 are the unconditional half), on x's device.
Tensor guided_unet_batch(const Tensor& x, bool guided);
// One timestep per UNet row: timesteps[r % B], on device d.
Tensor guided_timesteps(const std::vector<float>& timesteps, int64_t rows, Device d);

// The values of a tensor as its device's kernels take them (device or host memory).
const float* step_values(const Tensor& t);
float* step_values(Tensor& t);  // for writing (copy on write on a device)

// The step's arguments at x_t [B, ...] from the UNet output of a guided_unet_batch pass over it:
// the settings (alpha-bars, eta, guidance, noise choice) with batch, per-sample size, x_t and the
// two guidance halves (the unconditional rows first) pointing into the tensors, on their device.
DdimStepArgs guided_step_args(const DdimStepArgs& settings, const Tensor& x, const Tensor& unet_output, bool guided);

// The fused step and its backward on device d, pointers into tensors on d (prev_sample_out may be
// null); log-probs and their gradient on the host.
void ddim_step_on(Device d, const DdimStepArgs& s, float* prev_sample_out, double* log_prob_out);
void ddim_step_backward_on(Device d, const DdimStepArgs& s, const double* grad_log_prob, float* grad_model_output,
                           float* grad_model_output_uncond);

}  // namespace cxrl
