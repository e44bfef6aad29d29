#include "model/ema.h"

#include <stdexcept>

#include "core/parallel.h"
#include "model/training_device_ops.h"

namespace cxrl {

void ema_update_tensors(const std::vector<EmaTensors>& tensors, float decay) {
  std::vector<const Tensor*> all;
  for (const EmaTensors& t : tensors) all.insert(all.end(), {t.shadow, t.live});
  if (const TrainingDeviceOps* device = training_device_ops(all, "EMA")) return device->ema_update(tensors, decay);
  const float keep = decay, take = 1.f - decay;
  for (const EmaTensors& t : tensors) {
    float* dst = t.shadow->data();
    const float* src = t.live->data();
    parallel_for(t.live->numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) dst[i] = keep * dst[i] + take * src[i];
    });
  }
}

void ema_update(ParamStore& shadow, ParamStore& live, float decay) {
  std::vector<EmaTensors> tensors;
  for (const auto& p : live.all()) {
    Param* s = shadow.find(p->name);
    if (!s || s->value.shape != p->value.shape)
      throw std::invalid_argument("EMA: no matching shadow parameter " + p->name);
    tensors.push_back({&s->value, &p->value});
  }
  ema_update_tensors(tensors, decay);
}

}  // namespace cxrl
