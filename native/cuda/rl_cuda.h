// CUDA versions of the DDIM-step and PPO kernels, called with host pointers: each copies its inputs
// to the device, runs the kernel and copies the results back. The CUDA backend registers them as
// its RlDeviceKernels (rl/device_kernels.h); the binding reaches them only through that table.
#pragma once
#include "rl/ddim_step.h"
#include "rl/ppo.h"

namespace cxrl {

// Same semantics as ddim_step_cpu / ddim_step_backward_cpu / ppo_loss_cpu; host pointers.
void ddim_step_cuda_host(const DdimStepArgs& a, float* prev_sample_out, double* log_prob_out);
void ddim_step_backward_cuda_host(const DdimStepArgs& a, const double* grad_log_prob, float* grad_model_output,
                                  float* grad_model_output_uncond);
PpoStats ppo_loss_cuda_host(const PpoArgs& a, double* grad_log_prob);
// The step with its tensors already on the device: sample, model outputs, prev_sample/noise and the
// outputs prev_sample_out (or null), grad_model_output(_uncond) are device pointers; log-probs and
// their gradient stay on the host (one value per sample).
void ddim_step_cuda_resident(const DdimStepArgs& a, float* prev_sample_out, double* log_prob_out);
void ddim_step_backward_cuda_resident(const DdimStepArgs& a, const double* grad_log_prob, float* grad_model_output,
                                      float* grad_model_output_uncond);

}  // namespace cxrl
