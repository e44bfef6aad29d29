#include "model/ema.h"

#include <stdexcept>

#include "core/parallel.h"

namespace cxrl {

void ema_update(ParamStore& shadow, ParamStore& live, float decay) {
  for (const auto& p : live.all()) {
    Param* s = shadow.find(p->name);
    if (!s || s->value.shape != p->value.shape)
      throw std::invalid_argument("EMA: no matching shadow parameter " + p->name);
    float* dst = s->value.data();
    const float* src = p->value.data();
    const float keep = decay, take = 1.f - decay;
    parallel_for(p->value.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) dst[i] = keep * dst[i] + take * src[i];
    });
  }
}

}  // namespace cxrl
