#include "ops/embedding.h"

#include <cmath>

#include "ops/device_ops.h"

namespace cxrl {

// Computed in float32 exactly as diffusers does, so timestep angles round the same way.
float timestep_frequency(const TimestepEmbeddingSpec& s, int j) {
  const float half = (float)(s.dim / 2);
  const float exponent = -std::log(s.max_period) * (float)j / (half - s.freq_shift);
  return std::exp(exponent);
}

std::vector<float> timestep_frequencies(const TimestepEmbeddingSpec& s) {
  std::vector<float> f(s.dim / 2);
  for (int j = 0; j < s.dim / 2; ++j) f[j] = timestep_frequency(s, j);
  return f;
}

Tensor timestep_embedding_forward(const Tensor& t, const TimestepEmbeddingSpec& s) {
  if (t.on_device()) return device_ops("timestep_embedding_forward", t).timestep_embedding_forward(t, s);

  const int64_t B = t.numel();
  const int half = s.dim / 2;
  Tensor y({B, s.dim});
  for (int64_t b = 0; b < B; ++b)
    for (int j = 0; j < half; ++j) {
      // diffusers computes the angle in float32; keep the same rounding.
      const float ang = t.v[b] * timestep_frequency(s, j);
      const float sn = std::sin(ang), cs = std::cos(ang);
      y.v[b * s.dim + j] = s.flip_sin_to_cos ? cs : sn;
      y.v[b * s.dim + half + j] = s.flip_sin_to_cos ? sn : cs;
    }
  return y;
}

Tensor timestep_embedding_backward(const Tensor& t, const TimestepEmbeddingSpec& s, const Tensor& gy) {
  const int64_t B = t.numel();
  const int half = s.dim / 2;
  Tensor gt({B});
  for (int64_t b = 0; b < B; ++b) {
    double acc = 0;
    for (int j = 0; j < half; ++j) {
      const double f = timestep_frequency(s, j), ang = (double)t.v[b] * f;
      const double dsin = std::cos(ang) * f, dcos = -std::sin(ang) * f;
      const double g_first = gy.v[b * s.dim + j], g_second = gy.v[b * s.dim + half + j];
      acc += s.flip_sin_to_cos ? g_first * dcos + g_second * dsin : g_first * dsin + g_second * dcos;
    }
    gt.v[b] = (float)acc;
  }
  return gt;
}

}  // namespace cxrl
