#include "model/resnet_block.h"

#include "ops/shape_ops.h"

namespace cxrl {

ResnetBlock2D::ResnetBlock2D(ParamStore& ps, const std::string& n, int in, int out, int temb_dim, int groups, float eps)
    : norm1_(ps, n + ".norm1", groups, in, eps, NormActivation::kSiLU),
      norm2_(ps, n + ".norm2", groups, out, eps, NormActivation::kSiLU),
      conv1_(ps, n + ".conv1", in, out, 3, 1, 1),
      conv2_(ps, n + ".conv2", out, out, 3, 1, 1),
      has_shortcut_(in != out),
      has_temb_(temb_dim > 0) {
  if (has_temb_) time_proj_ = Linear(ps, n + ".time_emb_proj", temb_dim, out, true);
  if (has_shortcut_) shortcut_ = Conv2d(ps, n + ".conv_shortcut", in, out, 1, 1, 0);
}

Tensor ResnetBlock2D::forward(const Tensor& x, const Tensor& temb) {
  Tensor h = conv1_.forward(norm1_.forward(x));
  if (has_temb_) add_plane_bias(&h, time_proj_.forward(act_t_.forward(temb)));
  h = conv2_.forward(norm2_.forward(h));
  return add(has_shortcut_ ? shortcut_.forward(x) : x, h);
}

Tensor ResnetBlock2D::backward(const Tensor& gy, Tensor* gtemb) {
  Tensor gh = norm2_.backward(conv2_.backward(gy));
  if (has_temb_) add_inplace(gtemb, act_t_.backward(time_proj_.backward(plane_sums(gh))));
  Tensor gx = norm1_.backward(conv1_.backward(gh));
  add_inplace(&gx, has_shortcut_ ? shortcut_.backward(gy) : gy);
  return gx;
}

}  // namespace cxrl
