// Trainable layers built on the ops. Each forward caches what its backward needs; each backward
// returns the input gradient and accumulates parameter gradients. A layer instance is used once
// per forward pass (the UNet owns one instance per position), so one cache per layer suffices.
#pragma once
#include <string>

#include "model/params.h"
#include "ops/attention.h"
#include "ops/conv2d.h"
#include "ops/norm.h"

namespace cxrl {

class Conv2d {
 public:
  Conv2d() = default;
  Conv2d(ParamStore& ps, const std::string& name, int in, int out, int k, int stride, int pad);
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& gy);
  int out_channels() const { return (int)w_->value.dim(0); }

 private:
  Param *w_ = nullptr, *b_ = nullptr;
  Conv2dGeom geom_;
  Tensor x_;
};

class Linear {
 public:
  Linear() = default;
  Linear(ParamStore& ps, const std::string& name, int in, int out, bool bias);
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& gy);
  // Low-rank adaptation (Hu et al. 2021): y = x W^T + b + scale * (x A^T) B^T with new parameters
  // NAME.lora_A.weight [rank, in] and NAME.lora_B.weight [out, rank] (PEFT's names).
  void enable_lora(ParamStore& ps, int rank, float scale);

 private:
  std::string name_;
  Param *w_ = nullptr, *b_ = nullptr;
  Param *lora_a_ = nullptr, *lora_b_ = nullptr;
  float lora_scale_ = 1.f;
  Tensor x_, xa_;  // input, and x A^T, kept for the backward
};

enum class NormActivation { kNone, kSiLU };

class GroupNorm {
 public:
  GroupNorm() = default;
  // kSiLU: the layer is GroupNorm followed by SiLU (diffusers' norm + nonlinearity pairs), computed
  // in one pass by group_norm_silu_forward.
  GroupNorm(ParamStore& ps, const std::string& name, int groups, int channels, float eps,
            NormActivation act = NormActivation::kNone);
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& gy);

 private:
  Param *gamma_ = nullptr, *beta_ = nullptr;
  int groups_ = 1;
  float eps_ = 1e-5f;
  NormActivation act_ = NormActivation::kNone;
  Tensor x_, pre_activation_;  // kept for the backward (pre_activation_: kSiLU only)
  NormStats stats_;
};

class LayerNorm {
 public:
  LayerNorm() = default;
  LayerNorm(ParamStore& ps, const std::string& name, int dim, float eps);
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& gy);

 private:
  Param *gamma_ = nullptr, *beta_ = nullptr;
  float eps_ = 1e-5f;
  Tensor x_;
  NormStats stats_;
};

class SiLU {
 public:
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& gy);

 private:
  Tensor x_;
};

}  // namespace cxrl
