// affineWarp({images, batch, channels, height, width, outHeight, outWidth, params, fill?: number | 'edge'})
//   -> Float32Array:
// per-image affine resampling (ops/affine_warp.h); params holds 5 floats per image
// (s_x, s_y, t_x, t_y, theta).
#include <napi.h>

#include <cmath>
#include <vector>

#include "binding/options.h"
#include "ops/affine_warp.h"

namespace cxrl {
namespace {

Napi::Value AffineWarp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "affineWarp({images, batch, channels, height, width, outHeight, outWidth, params, fill?})";
  const Options o = Options::from(info, "affineWarp", usage);
  const int64_t B = o.integer("batch", 1), C = o.integer("channels", 1), H = o.integer("height", 1),
                W = o.integer("width", 1), OH = o.integer("outHeight", 1), OW = o.integer("outWidth", 1);
  Napi::Float32Array images = o.float32_array("images", B * C * H * W), params = o.float32_array("params", 5 * B);
  // fill: a value for points outside the source, or 'edge' (the nearest edge pixel's value).
  const bool edge = o.has("fill") && o.get("fill").IsString();
  if (edge && o.string("fill", "") != "edge") throw o.range_error("fill must be a number or 'edge'");
  const float fill = edge ? std::nanf("") : (float)o.number("fill", 0.0);
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
