#include "model/layers.h"

#include "core/grad_mode.h"
#include "ops/activation.h"
#include "ops/linear.h"
#include "ops/shape_ops.h"

namespace cxrl {

// The input a backward will need, or nothing in inference mode (and the old copy is released).
static void keep_for_backward(Tensor& cache, const Tensor& x) {
  if (grad_enabled())
    cache = x;
  else
    cache = Tensor();
}

Conv2d::Conv2d(ParamStore& ps, const std::string& name, int in, int out, int k, int stride, int pad) {
  const int64_t fan_in = (int64_t)in * k * k;
  w_ = ps.add(name + ".weight", {out, in, k, k}, Init::kUniformFanIn, fan_in);
  b_ = ps.add(name + ".bias", {out}, Init::kUniformFanIn, fan_in);
  geom_ = {stride, pad};
}

Tensor Conv2d::forward(const Tensor& x) {
  keep_for_backward(x_, x);
  return conv2d_forward(x, w_->value, &b_->value, geom_);
}

Tensor Conv2d::backward(const Tensor& gy) {
  Tensor gx;
  conv2d_backward(x_, w_->value, gy, geom_, &gx, w_->grad_target(), b_->grad_target());
  return gx;
}

Linear::Linear(ParamStore& ps, const std::string& name, int in, int out, bool bias) : name_(name) {
  w_ = ps.add(name + ".weight", {out, in}, Init::kUniformFanIn, in);
  if (bias) b_ = ps.add(name + ".bias", {out}, Init::kUniformFanIn, in);
}

// PEFT's initialisation: A uniform in +-1/sqrt(in) (kaiming_uniform with a = sqrt(5)), B zero, so
// the adapted layer starts as the base layer.
void Linear::enable_lora(ParamStore& ps, int rank, float scale) {
  if (lora_a_) throw std::logic_error("linear " + name_ + ": LoRA is already enabled");
  const int64_t in = w_->value.dim(1), out = w_->value.dim(0);
  lora_a_ = ps.add(name_ + ".lora_A.weight", {rank, in}, Init::kUniformFanIn, in);
  lora_b_ = ps.add(name_ + ".lora_B.weight", {out, rank}, Init::kZeros, 0);
  lora_scale_ = scale;
}

Tensor Linear::forward(const Tensor& x) {
  keep_for_backward(x_, x);
  Tensor y = linear_forward(x, w_->value, b_ ? &b_->value : nullptr);
  if (lora_a_) {  // y += scale * (x A^T) B^T
    Tensor xa = linear_forward(x, lora_a_->value, nullptr);
    const Tensor up = linear_forward(xa, lora_b_->value, nullptr);
    add_scaled_inplace(&y, up, lora_scale_);
    keep_for_backward(xa_, xa);
  }
  return y;
}

Tensor Linear::backward(const Tensor& gy) {
  Tensor gx;
  linear_backward(x_, w_->value, gy, &gx, w_->grad_target(), b_ ? b_->grad_target() : nullptr);
  if (lora_a_) {
    Tensor gy_scaled = Tensor::zeros(gy.shape, gy.device);
    add_scaled_inplace(&gy_scaled, gy, lora_scale_);
    Tensor gxa, gx_lora;
    linear_backward(xa_, lora_b_->value, gy_scaled, &gxa, lora_b_->grad_target(), nullptr);
    linear_backward(x_, lora_a_->value, gxa, &gx_lora, lora_a_->grad_target(), nullptr);
    add_inplace(&gx, gx_lora);
  }
  return gx;
}

GroupNorm::GroupNorm(ParamStore& ps, const std::string& name, int groups, int channels, float eps, NormActivation act)
    : groups_(groups), eps_(eps), act_(act) {
  gamma_ = ps.add(name + ".weight", {channels}, Init::kOnes, 0);
  beta_ = ps.add(name + ".bias", {channels}, Init::kZeros, 0);
}

Tensor GroupNorm::forward(const Tensor& x) {
  keep_for_backward(x_, x);
  if (act_ == NormActivation::kNone) return group_norm_forward(x, groups_, gamma_->value, beta_->value, eps_, &stats_);
  const bool keep = grad_enabled();
  if (!keep) pre_activation_ = Tensor();
  return group_norm_silu_forward(x, groups_, gamma_->value, beta_->value, eps_, &stats_,
                                 keep ? &pre_activation_ : nullptr);
}

Tensor GroupNorm::backward(const Tensor& gy) {
  Tensor gx;
  const Tensor& g = act_ == NormActivation::kSiLU ? silu_backward(pre_activation_, gy) : gy;
  group_norm_backward(x_, groups_, gamma_->value, stats_, g, &gx, gamma_->grad_target(), beta_->grad_target());
  return gx;
}

LayerNorm::LayerNorm(ParamStore& ps, const std::string& name, int dim, float eps) : eps_(eps) {
  gamma_ = ps.add(name + ".weight", {dim}, Init::kOnes, 0);
  beta_ = ps.add(name + ".bias", {dim}, Init::kZeros, 0);
}

Tensor LayerNorm::forward(const Tensor& x) {
  keep_for_backward(x_, x);
  return layer_norm_forward(x, gamma_->value, beta_->value, eps_, &stats_);
}

Tensor LayerNorm::backward(const Tensor& gy) {
  Tensor gx;
  layer_norm_backward(x_, gamma_->value, stats_, gy, &gx, gamma_->grad_target(), beta_->grad_target());
  return gx;
}

Tensor SiLU::forward(const Tensor& x) {
  keep_for_backward(x_, x);
  return silu_forward(x);
}

Tensor SiLU::backward(const Tensor& gy) { return silu_backward(x_, gy); }

}  // namespace cxrl
