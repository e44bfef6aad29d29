// Named parameters with gradients. Names are diffusers' state-dict keys, so a checkpoint maps
// one-to-one onto a diffusers UNet2DConditionModel. Addresses are stable (modules keep pointers).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace cxrl {

struct Param {
  std::string name;
  Tensor value;
  // false: frozen (a LoRA-adapted model's base weights): layers compute no gradient for it and
  // optimizers built from the model skip it.
  bool trainable = true;
  // Allocated on first use (ensure_grad): a model that only samples never holds a second copy of
  // its weights (an SD-sized UNet is 3.4 GB in float32).
  Tensor grad;
  // Zeros on the value's device.
  Tensor& ensure_grad() {
    if (grad.numel() != value.numel() || grad.device != value.device) grad = Tensor::zeros(value.shape, value.device);
    return grad;
  }
  // Where a layer's backward accumulates this parameter's gradient: null when frozen.
  Tensor* grad_target() { return trainable ? &ensure_grad() : nullptr; }
};

enum class Init { kZeros, kOnes, kUniformFanIn };

class ParamStore {
 public:
  // fan_in scales kUniformFanIn: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for
  // Linear/Conv weights and biases. Values come from Philox keyed by (seed, name), so adding a
  // parameter never changes the others.
  Param* add(const std::string& name, Shape shape, Init init, int64_t fan_in);
  Param* find(const std::string& name);
  const std::vector<std::unique_ptr<Param>>& all() const { return params_; }
  void set_seed(uint64_t seed) { seed_ = seed; }
  void zero_grad();     // allocates gradients that were never used (trainable parameters)
  void ensure_grads();  // trainable parameters only
  void freeze_all();    // every parameter so far becomes frozen (trainable = false)
  // Moves every value and gradient to d (what a model's forward then runs on).
  void to(Device d);
  Device device() const { return params_.empty() ? Device::kCpu : params_.front()->value.device; }
  int64_t count() const;

 private:
  std::vector<std::unique_ptr<Param>> params_;
  std::map<std::string, Param*> by_name_;
  uint64_t seed_ = 0;
};

}  // namespace cxrl
