#include "rl/noising.h"

#include <cmath>
#include <stdexcept>

#include "core/parallel.h"
#include "core/philox.h"

namespace cxrl {

void gaussian_noise(uint64_t seed, uint64_t stream_offset, int64_t batch, int64_t per_sample, float* out) {
  const int64_t groups = (per_sample + 3) / 4;
  parallel_for(batch * groups, 1024, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t b = g / groups, i0 = (g % groups) * 4;
      float z[4];
      philox_normal4(seed, stream_offset + b, (uint64_t)(i0 >> 2), z);
      for (int64_t i = i0; i < std::min(per_sample, i0 + 4); ++i) out[b * per_sample + i] = z[i - i0];
    }
  });
}

void add_noise(const float* x0, const float* noise, const std::vector<double>& alpha_bar, int64_t batch,
               int64_t per_sample, float* out) {
  if ((int64_t)alpha_bar.size() != batch) throw std::invalid_argument("add_noise: one alpha-bar per sample");
  for (double a : alpha_bar)
    if (!(a > 0 && a <= 1)) throw std::invalid_argument("add_noise: alpha-bar values must lie in (0, 1]");
  parallel_for(batch * per_sample, 8192, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const double a = alpha_bar[k / per_sample];
      out[k] = (float)(std::sqrt(a) * x0[k] + std::sqrt(1.0 - a) * noise[k]);
    }
  });
}

}  // namespace cxrl
