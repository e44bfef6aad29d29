// Exponential moving average of a model's weights (the "EMA model" of diffusion training):
// shadow <- decay * shadow + (1 - decay) * live, parameter by parameter, matched by name.
#pragma once
#include <vector>

#include "model/params.h"

namespace cxrl {

// Throws std::invalid_argument when a live parameter has no shadow of the same name and shape.
void ema_update(ParamStore& shadow, ParamStore& live, float decay);
// The same for tensor pairs, all on one device (one call of its training ops for them all).
struct EmaTensors {
  Tensor* shadow;
  const Tensor* live;
};
void ema_update_tensors(const std::vector<EmaTensors>& tensors, float decay);

// The warm-up of the decay used by diffusers' EMAModel: min(decay, (1 + step) / (10 + step)), so
// early averages are not dominated by the random initialisation.
inline float ema_decay_at(float decay, int64_t step) {
  const float warm = (1.f + (float)step) / (10.f + (float)step);
  return warm < decay ? warm : decay;
}

}  // namespace cxrl
