// affineWarp({images, batch, channels, height, width, outHeight, outWidth, params, fill?}) -> Float32Array:
// per-image affine resampling (ops/affine_warp.h); params holds 5 floats per image
// (s_x, s_y, t_x, t_y, theta).
#include <napi.h>

#include <vector>

#include "binding/convert.h"
#include "ops/affine_warp.h"

namespace cxrl {
namespace {

Napi::Value AffineWarp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "affineWarp({images, batch, channels, height, width, outHeight, outWidth, params, fill?})";
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, usage);
  Napi::Object o = info[0].As<Napi::Object>();
  auto pos = [&](const char* k) {
    Napi::Value v = o.Get(k);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 1) || d != (int64_t)d)
      throw Napi::TypeError::New(env, std::string("affineWarp: ") + k + " must be a positive integer");
    return (int64_t)d;
  };
  Napi::Float32Array images = float32_field(o, "images", "affineWarp"),
                     params = float32_field(o, "params", "affineWarp");
  const int64_t B = pos("batch"), C = pos("channels"), H = pos("height"), W = pos("width"), OH = pos("outHeight"),
                OW = pos("outWidth");
  if ((int64_t)images.ElementLength() != B * C * H * W)
    throw Napi::RangeError::New(env, "affineWarp: images must hold batch*channels*height*width values");
  if ((int64_t)params.ElementLength() != 5 * B)
    throw Napi::RangeError::New(env, "affineWarp: params must hold 5 values per image");
  const float fill = o.Has("fill") && o.Get("fill").IsNumber() ? o.Get("fill").As<Napi::Number>().FloatValue() : 0.f;
  std::vector<AffineParams> ps(B);
  for (int64_t b = 0; b < B; ++b) {
    const float* p = params.Data() + 5 * b;
    ps[b] = {p[0], p[1], p[2], p[3], p[4]};
  }
  Napi::Float32Array out = Napi::Float32Array::New(env, B * C * OH * OW);
  affine_warp(images.Data(), B, C, H, W, ps.data(), fill, OH, OW, out.Data());
  return out;
}

}  // namespace

void init_image_ops_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("affineWarp", Napi::Function::New(env, AffineWarp));
}

}  // namespace cxrl
