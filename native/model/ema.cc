#include "model/ema.h"

#include <stdexcept>

#include "core/parallel.h"
#include "model/training_device_ops.h"

namespace cxrl {

void ema_update_tensor(Tensor* shadow, const Tensor& live, float decay) {
  if (shadow->device != live.device) throw std::invalid_argument("EMA: shadow and live are on different devices");
  if (live.on_device()) return training_device_ops(live, "ema").ema_update(shadow, live, decay);
  float* dst = shadow->data();
  const float* src = live.data();
  const float keep = decay, take = 1.f - decay;
  parallel_for(live.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dst[i] = keep * dst[i] + take * src[i];
  });
}

void ema_update(ParamStore& shadow, ParamStore& live, float decay) {
  for (const auto& p : live.all()) {
    Param* s = shadow.find(p->name);
    if (!s || s->value.shape != p->value.shape)
      throw std::invalid_argument("EMA: no matching shadow parameter " + p->name);
    ema_update_tensor(&s->value, p->value, decay);
  }
}

}  // namespace cxrl
