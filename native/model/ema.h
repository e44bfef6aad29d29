// Exponential moving average of a model's weights (the "EMA model" of diffusion training):
// shadow <- decay * shadow + (1 - decay) * live, parameter by parameter, matched by name.
#pragma once
#include "model/params.h"

namespace cxrl {

// Throws std::invalid_argument when a live parameter has no shadow of the same name and shape.
void ema_update(ParamStore& shadow, ParamStore& live, float decay);
// One tensor of it, on the tensors' device (both on the same one).
void ema_update_tensor(Tensor* shadow, const Tensor& live, float decay);

// The warm-up of the decay used by diffusers' EMAModel: min(decay, (1 + step) / (10 + step)), so
// early averages are not dominated by the random initialisation.
inline float ema_decay_at(float decay, int64_t step) {
  const float warm = (1.f + (float)step) / (10.f + (float)step);
  return warm < decay ? warm : decay;
}

}  // namespace cxrl
