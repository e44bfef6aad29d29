// Sinusoidal timestep embedding as diffusers' get_timestep_embedding:
// freq_j = exp(-ln(max_period) * j / (half - freq_shift)), emb = [sin(t f), cos(t f)]
// (or [cos, sin] with flip_sin_to_cos); odd dims get a zero last column.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace cxrl {

struct TimestepEmbeddingSpec {
  int dim = 0;
  bool flip_sin_to_cos = true;
  float freq_shift = 0.f;
  float max_period = 10000.f;
};

// freq_j for j < dim / 2, in float32 as diffusers computes them (the CUDA twin takes these).
float timestep_frequency(const TimestepEmbeddingSpec& s, int j);
std::vector<float> timestep_frequencies(const TimestepEmbeddingSpec& s);
Tensor timestep_embedding_forward(const Tensor& t, const TimestepEmbeddingSpec& s);  // [B] -> [B, dim]
Tensor timestep_embedding_backward(const Tensor& t, const TimestepEmbeddingSpec& s, const Tensor& gy);  // -> [B]

}  // namespace cxrl
