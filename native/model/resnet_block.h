// diffusers ResnetBlock2D ("default" time-scale-shift): GroupNorm-SiLU-conv, plus a projected
// time embedding, GroupNorm-SiLU-conv, and a 1x1 conv shortcut when the channel count changes.
#pragma once
#include "model/layers.h"

namespace cxrl {

class ResnetBlock2D {
 public:
  ResnetBlock2D(ParamStore& ps, const std::string& name, int in, int out, int temb_dim, int groups, float eps);
  Tensor forward(const Tensor& x, const Tensor& temb);
  // Returns d/dx; adds d/dtemb into *gtemb.
  Tensor backward(const Tensor& gy, Tensor* gtemb);

 private:
  GroupNorm norm1_, norm2_;
  SiLU act1_, act2_, act_t_;
  Conv2d conv1_, conv2_, shortcut_;
  Linear time_proj_;
  bool has_shortcut_;
};

}  // namespace cxrl
