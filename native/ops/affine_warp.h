// Affine resampling of image batches, for posture augmentation and for resizing generated images
// to a reward model's input size. Coordinates are normalised per axis to [-1, 1] over pixel
// centres' extent (align_corners = false). Output pixel q samples the source at
//   p = S R(theta) q + t,  S = diag(s_x, s_y),  R(theta) = [[cos, -sin], [sin, cos]]
// bilinearly; points outside the source take `fill` (NaN: the nearest edge pixel's value). psi = (s_x, s_y, t_x, t_y,
// theta) is thus the map from the output image to the source image, the parameterisation of the posture reward.
#pragma once
#include <cstdint>

namespace cxrl {

struct AffineParams {
  float scale_x = 1, scale_y = 1, shift_x = 0, shift_y = 0, rotation = 0;
};

// src [B, C, H, W] -> dst [B, C, OH, OW]; params has B entries (one transform per image).
void affine_warp(const float* src, int64_t B, int64_t C, int64_t H, int64_t W, const AffineParams* params, float fill,
                 int64_t OH, int64_t OW, float* dst);

}  // namespace cxrl
