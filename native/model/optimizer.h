// Adam and AdamW (decoupled weight decay, Loshchilov & Hutter) with PyTorch's bias correction,
// and global gradient-norm clipping. Moment buffers are named after the parameters so that they
// can be checkpointed ("exp_avg.<name>", "exp_avg_sq.<name>").
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/params.h"

namespace cxrl {

struct AdamConfig {
  float lr = 1e-4f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 1e-2f;
  bool decoupled = true;  // true: AdamW; false: Adam with L2 (grad += wd * p)
};

// The per-step constants of update t (1-based), shared by the CPU step and its CUDA twin:
//   p -= lr wd p (decoupled; else g += wd p), m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
//   p -= step_size m / (sqrt(v) inv_sqrt_bc2 + eps), step_size = lr / (1 - b1^t),
//   inv_sqrt_bc2 = 1 / sqrt(1 - b2^t).
struct AdamStepScalars {
  float lr, weight_decay, beta1, beta2, eps, step_size, inv_sqrt_bc2;
  bool decoupled;
};
AdamStepScalars adam_step_scalars(const AdamConfig& c, int64_t t);

// The tensors of one parameter's update.
struct AdamTensors {
  Tensor* param;
  const Tensor* grad;
  Tensor* exp_avg;
  Tensor* exp_avg_sq;
};
// One update of several parameters and their moments, all on one device: one call of that device's
// training ops for them all (training_device_ops.h; on the GPU, one launch).
void adam_update(const AdamStepScalars& k, const std::vector<AdamTensors>& tensors);

class AdamOptimizer {
 public:
  AdamOptimizer(std::vector<Param*> params, AdamConfig cfg);
  void step();  // uses cfg().lr; one step for every parameter
  AdamConfig& cfg() { return cfg_; }
  int64_t steps() const { return t_; }

  std::map<std::string, const Tensor*> state_tensors() const;
  void load_state(const std::map<std::string, Tensor>& tensors, int64_t steps);  // throws on mismatch

 private:
  std::vector<Param*> params_;
  std::vector<Tensor> m_, v_;
  AdamConfig cfg_;
  int64_t t_ = 0;
};

// Scales all gradients so their joint L2 norm is at most max_norm (if max_norm > 0). Returns the
// norm before clipping.
double clip_grad_norm(const std::vector<Param*>& params, double max_norm);
// Its halves, on the gradients' device (one device for all): the sum of squares over all of them
// (in double), and g *= s for each.
double grad_sum_squares(const std::vector<const Tensor*>& grads);
void scale_grads(const std::vector<Tensor*>& grads, float s);
// g = 0 for each, on their device (one device for all; a GPU zeroes them all in one launch).
void zero_grads(const std::vector<Tensor*>& grads);

}  // namespace cxrl
