// The RL kernels of a device backend, with the semantics of ddim_step_cpu, ddim_step_backward_cpu
// and ppo_loss_cpu: called with host pointers (each copies its inputs to the device, runs the
// kernel and copies the results back), or with device-resident tensors (the RL timestep,
// rl/policy_step.h); plus the step's device benchmark. A backend registers
// one table (DeviceRegistry<RlDeviceKernels>); rl_device_kernels finds it.
#pragma once
#include "bench/ddim_step_bench.h"
#include "core/backend.h"
#include "rl/ddim_step.h"
#include "rl/ppo.h"

namespace cxrl {

struct RlDeviceKernels {
  void (*ddim_step)(const DdimStepArgs& a, float* prev_sample_out, double* log_prob_out);
  void (*ddim_step_backward)(const DdimStepArgs& a, const double* grad_log_prob, float* grad_model_output,
                             float* grad_model_output_uncond);
  PpoStats (*ppo_loss)(const PpoArgs& a, double* grad_log_prob);
  // The same two step kernels on device-resident tensors: every float pointer of DdimStepArgs and
  // the float outputs are device addresses; log-probs and their gradient are host arrays.
  void (*ddim_step_resident)(const DdimStepArgs& a, float* prev_sample_out, double* log_prob_out);
  void (*ddim_step_backward_resident)(const DdimStepArgs& a, const double* grad_log_prob, float* grad_model_output,
                                      float* grad_model_output_uncond);
  StepTiming (*bench_ddim_step)(const StepBenchConfig& c);
};

// The table of d; throws std::runtime_error saying why when d has none or cannot be used now.
const RlDeviceKernels& rl_device_kernels(Device d);

}  // namespace cxrl
