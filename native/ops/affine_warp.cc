#include "ops/affine_warp.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace cxrl {

void affine_warp(const float* src, int64_t B, int64_t C, int64_t H, int64_t W, const AffineParams* params, float fill,
                 int64_t OH, int64_t OW, float* dst) {
  const bool clamp = std::isnan(fill);
  parallel_for(B * OH, 4, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      const int64_t b = row / OH, i = row % OH;
      const AffineParams& a = params[b];
      const double c = std::cos((double)a.rotation), s = std::sin((double)a.rotation);
      const double qy = 2.0 * (i + 0.5) / OH - 1.0;
      for (int64_t j = 0; j < OW; ++j) {
        const double qx = 2.0 * (j + 0.5) / OW - 1.0;
        const double px = a.scale_x * (c * qx - s * qy) + a.shift_x;
        const double py = a.scale_y * (s * qx + c * qy) + a.shift_y;
        // back to source pixel coordinates (pixel centres at integers)
        const double x = (px + 1.0) * 0.5 * W - 0.5, y = (py + 1.0) * 0.5 * H - 0.5;
        const double fx = std::floor(x), fy = std::floor(y);
        const int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
        const double wx = x - fx, wy = y - fy;
        for (int64_t ch = 0; ch < C; ++ch) {
          const float* img = src + (b * C + ch) * H * W;
          auto at = [&](int64_t yy, int64_t xx) -> double {
            if (clamp)
              return (
                  double)img[std::min(H - 1, std::max<int64_t>(0, yy)) * W + std::min(W - 1, std::max<int64_t>(0, xx))];
            return (xx < 0 || yy < 0 || xx >= W || yy >= H) ? (double)fill : (double)img[yy * W + xx];
          };
          const double v = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1)) +
                           wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1));
          dst[((b * C + ch) * OH + i) * OW + j] = (float)v;
        }
      }
    }
  });
}

}  // namespace cxrl
