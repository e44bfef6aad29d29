// renderPhantom(spec) -> Uint8Array (width * height, 8-bit grayscale, row-major).
#include <napi.h>

#include "phantom/phantom.h"

namespace cxrl {
namespace {

double num(const Napi::Object& o, const char* key, double dflt) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return dflt;
  if (!o.Get(key).IsNumber())
    throw Napi::TypeError::New(o.Env(), std::string("renderPhantom: ") + key + " must be a number");
  return o.Get(key).As<Napi::Number>().DoubleValue();
}

void pair(const Napi::Object& o, const char* key, double out[2]) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return;
  Napi::Value v = o.Get(key);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2)
    throw Napi::TypeError::New(o.Env(), std::string("renderPhantom: ") + key + " must be [right, left]");
  out[0] = v.As<Napi::Array>().Get(0u).As<Napi::Number>().DoubleValue();
  out[1] = v.As<Napi::Array>().Get(1u).As<Napi::Number>().DoubleValue();
}

Napi::Value RenderPhantom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "renderPhantom(spec)");
  Napi::Object o = info[0].As<Napi::Object>();
  PhantomSpec s;
  s.width = (int)num(o, "width", 256);
  s.height = (int)num(o, "height", 256);
  if (s.width < 8 || s.height < 8 || s.width > 8192 || s.height > 8192)
    throw Napi::RangeError::New(env, "renderPhantom: width and height must be in [8, 8192]");
  s.seed = (uint64_t)num(o, "seed", 0);
  const std::string view = o.Has("view") ? o.Get("view").ToString().Utf8Value() : "PA";
  s.view = view == "AP" ? PhantomView::kAP : view == "LATERAL" ? PhantomView::kLateral : PhantomView::kPA;
  if (o.Has("pose") && o.Get("pose").IsObject()) {
    Napi::Object p = o.Get("pose").As<Napi::Object>();
    s.pose = {num(p, "scaleX", 1), num(p, "scaleY", 1), num(p, "shiftX", 0), num(p, "shiftY", 0),
              num(p, "rotation", 0)};
  }
  s.heart_ratio = num(o, "heartRatio", s.heart_ratio);
  s.mediastinum_width = num(o, "mediastinumWidth", s.mediastinum_width);
  pair(o, "effusion", s.effusion);
  pair(o, "pneumothorax", s.pneumothorax);
  pair(o, "atelectasis", s.atelectasis);
  s.consolidation = num(o, "consolidation", 0);
  s.consolidation_side = (int)num(o, "consolidationSide", 0);
  s.edema = num(o, "edema", 0);
  s.nodule = num(o, "nodule", 0);
  s.pleural_thickening = num(o, "pleuralThickening", 0);
  s.devices = (uint32_t)num(o, "devices", 0);
  s.fractured_rib = (int)num(o, "fracturedRib", -1);
  s.fractured_side = (int)num(o, "fracturedSide", 0);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, (size_t)s.width * s.height);
  render_phantom(s, out.Data());
  return out;
}

}  // namespace

void init_phantom_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("renderPhantom", Napi::Function::New(env, RenderPhantom));
}

}  // namespace cxrl
