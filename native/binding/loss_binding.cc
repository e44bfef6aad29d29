// mseLoss({pred, target, scale?}) -> {loss, grad}: mean squared error over all elements and
// scale * d loss / d pred (the seed of the UNet backward in pretraining).
#include <napi.h>

#include <cstring>

#include "binding/convert.h"
#include "ops/embedding.h"

namespace cxrl {
namespace {

Napi::Value MseLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "mseLoss({pred, target, scale?})");
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Float32Array pred = float32_field(o, "pred", "mseLoss"), target = float32_field(o, "target", "mseLoss");
  if (pred.ElementLength() != target.ElementLength() || pred.ElementLength() == 0)
    throw Napi::RangeError::New(env, "mseLoss: pred and target must have the same non-zero length");
  float scale = 1.f;
  if (o.Has("scale") && !o.Get("scale").IsUndefined()) {
    if (!o.Get("scale").IsNumber()) throw Napi::TypeError::New(env, "mseLoss: scale must be a number");
    scale = o.Get("scale").As<Napi::Number>().FloatValue();
  }
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
