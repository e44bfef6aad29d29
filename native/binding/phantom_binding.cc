// renderPhantom(spec) -> Uint8Array (width * height, 8-bit grayscale, row-major).
#include <napi.h>

#include "binding/options.h"
#include "phantom/phantom.h"

namespace cxrl {
namespace {

// A [right, left] pair of severities.
void pair(const Options& o, const char* key, double out[2]) {
  if (!o.has(key)) return;
  const std::vector<double> v = o.per_sample(key, 2);
  out[0] = v[0];
  out[1] = v[1];
}

Napi::Value RenderPhantom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Options o = Options::from(info, "renderPhantom", "renderPhantom(spec)");
  PhantomSpec s;
  s.width = (int)o.integer("width", 256, 8);
  s.height = (int)o.integer("height", 256, 8);
  if (s.width > 8192 || s.height > 8192) throw o.range_error("width and height must be in [8, 8192]");
  s.seed = (uint64_t)o.integer("seed", 0, 0);
  const std::string view = o.choice("view", "PA", {"PA", "AP", "LATERAL"});
  s.view = view == "AP" ? PhantomView::kAP : view == "LATERAL" ? PhantomView::kLateral : PhantomView::kPA;
  if (o.has("pose")) {
    if (!o.get("pose").IsObject()) throw o.type_error("pose must be an object");
    const Options p(o.get("pose").As<Napi::Object>(), "renderPhantom: pose");
    s.pose = {p.number("scaleX", 1), p.number("scaleY", 1), p.number("shiftX", 0), p.number("shiftY", 0),
              p.number("rotation", 0)};
  }
  s.heart_ratio = o.number("heartRatio", s.heart_ratio);
  s.mediastinum_width = o.number("mediastinumWidth", s.mediastinum_width);
  pair(o, "effusion", s.effusion);
  pair(o, "pneumothorax", s.pneumothorax);
  pair(o, "atelectasis", s.atelectasis);
  s.consolidation = o.number("consolidation", 0);
  s.consolidation_side = (int)o.integer("consolidationSide", 0, 0);
  s.edema = o.number("edema", 0);
  s.nodule = o.number("nodule", 0);
  s.pleural_thickening = o.number("pleuralThickening", 0);
  s.devices = (uint32_t)o.integer("devices", 0, 0);
  s.fractured_rib = (int)o.integer("fracturedRib", -1, -1);
  s.fractured_side = (int)o.integer("fracturedSide", 0, 0);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, (size_t)s.width * s.height);
  render_phantom(s, out.Data());
  return out;
}

}  // namespace

void init_phantom_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("renderPhantom", Napi::Function::New(env, RenderPhantom));
}

}  // namespace cxrl
