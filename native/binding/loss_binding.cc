// mseLoss({pred, target, scale?}) -> {loss, grad}: mean squared error over all elements and
// scale * d loss / d pred (the seed of the UNet backward in pretraining).
#include <napi.h>

#include <cstring>

#include "binding/options.h"
#include "ops/mse_loss.h"

namespace cxrl {
namespace {

Napi::Value MseLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Options o = Options::from(info, "mseLoss", "mseLoss({pred, target, scale?})");
  Napi::Float32Array pred = o.float32_array("pred");
  Napi::Float32Array target = o.float32_array("target", (int64_t)pred.ElementLength());
  const float scale = (float)o.number("scale", 1.0);
  const Shape s{(int64_t)pred.ElementLength()};
  Tensor p(s), t(s);
  std::memcpy(p.data(), pred.Data(), p.numel() * 4);
  std::memcpy(t.data(), target.Data(), t.numel() * 4);
  const double loss = mse_loss_forward(p, t);
  const Tensor g = mse_loss_backward(p, t, scale);
  Napi::Float32Array grad = Napi::Float32Array::New(env, g.numel());
  std::memcpy(grad.Data(), g.data(), g.numel() * 4);
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", loss);
  out.Set("grad", grad);
  return out;
}

}  // namespace

void init_loss_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("mseLoss", Napi::Function::New(env, MseLoss));
}

}  // namespace cxrl
