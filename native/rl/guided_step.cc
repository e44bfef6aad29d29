#include "rl/guided_step.h"

#include <cstring>

#include "core/backend.h"
#include "rl/device_kernels.h"

namespace cxrl {

Tensor guided_unet_batch(const Tensor& x, bool guided) {
  if (!guided) return x;
  Shape s = x.shape;
  s[0] *= 2;
  Tensor rows = Tensor::uninitialized(s, x.device);
  const int64_t n = x.numel();
  if (x.on_device()) {
    rows.mutable_device_data();
    const DeviceBackend& b = require_backend(x.device);
    b.copy(*rows.storage, 0, *x.storage, 0, n);
    b.copy(*rows.storage, n, *x.storage, 0, n);
  } else {
    std::memcpy(rows.data(), x.data(), n * sizeof(float));
    std::memcpy(rows.data() + n, x.data(), n * sizeof(float));
  }
  return rows;
}

Tensor guided_timesteps(const std::vector<float>& timesteps, int64_t rows, Device d) {
  Tensor t = Tensor::uninitialized({rows});
  for (int64_t r = 0; r < rows; ++r) t.v[r] = timesteps[r % timesteps.size()];
  return d == Device::kCpu ? t : t.to(d);
}

const float* step_values(const Tensor& t) { return t.on_device() ? t.device_data() : t.data(); }
float* step_values(Tensor& t) { return t.on_device() ? t.mutable_device_data() : t.data(); }

DdimStepArgs guided_step_args(const DdimStepArgs& settings, const Tensor& x, const Tensor& unet_output, bool guided) {
  const int64_t n = x.numel();
  DdimStepArgs s = settings;
  s.batch = x.dim(0);
  s.per_sample = n / s.batch;
  s.sample = step_values(x);
  s.model_output = step_values(unet_output) + (guided ? n : 0);
  s.model_output_uncond = guided ? step_values(unet_output) : nullptr;
  return s;
}

void ddim_step_on(Device d, const DdimStepArgs& s, float* prev_sample_out, double* log_prob_out) {
  if (d == Device::kCpu)
    ddim_step_cpu(s, prev_sample_out, log_prob_out);
  else
    rl_device_kernels(d).ddim_step_resident(s, prev_sample_out, log_prob_out);
}

void ddim_step_backward_on(Device d, const DdimStepArgs& s, const double* grad_log_prob, float* grad_model_output,
                           float* grad_model_output_uncond) {
  if (d == Device::kCpu)
    ddim_step_backward_cpu(s, grad_log_prob, grad_model_output, grad_model_output_uncond);
  else
    rl_device_kernels(d).ddim_step_backward_resident(s, grad_log_prob, grad_model_output, grad_model_output_uncond);
}

}  // namespace cxrl
