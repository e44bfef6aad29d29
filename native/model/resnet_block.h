// diffusers ResnetBlock2D ("default" time-scale-shift): GroupNorm-SiLU-conv, plus a projected
// time embedding, GroupNorm-SiLU-conv, and a 1x1 conv shortcut when the channel count changes.
// temb_dim 0 builds the VAE's form: no time embedding (no time_emb_proj parameters).
#pragma once
#include "model/layers.h"

namespace cxrl {

class ResnetBlock2D {
 public:
  ResnetBlock2D(ParamStore& ps, const std::string& name, int in, int out, int temb_dim, int groups, float eps);
  // temb [B, temb_dim], ignored (pass an empty tensor) when temb_dim is 0.
  Tensor forward(const Tensor& x, const Tensor& temb);
  // Returns d/dx; adds d/dtemb into *gtemb (may be null when temb_dim is 0).
  Tensor backward(const Tensor& gy, Tensor* gtemb);

 private:
  GroupNorm norm1_, norm2_;  // each followed by SiLU (fused)
  SiLU act_t_;
  Conv2d conv1_, conv2_, shortcut_;
  Linear time_proj_;
  bool has_shortcut_, has_temb_;
};

}  // namespace cxrl
