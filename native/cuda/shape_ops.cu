// Layout ops on the device: launches the kernels of shape_ops_kernels.cuh.
#include <stdexcept>

#include "cuda/check.h"
#include "cuda/elementwise_launch.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"
#include "cuda/shape_ops_kernels.cuh"

namespace cxrl {

void upsample_nearest2x_forward_device(const float* x, float* y, int64_t planes, int H, int W) {
  launch_planes(upsample2x_kernel, planes, 4LL * H * W, "upsample2x", x, y, planes, H, W);
}
void upsample_nearest2x_backward_device(const float* gy, float* gx, int64_t planes, int H, int W) {
  launch_planes(upsample2x_backward_kernel, planes, (int64_t)H * W, "upsample2x backward", gy, gx, planes, H, W);
}
void pad_bottom_right_forward_device(const float* x, float* y, int64_t planes, int H, int W, int bottom, int right) {
  launch_planes(pad_kernel, planes, (int64_t)(H + bottom) * (W + right), "pad", x, y, planes, H, W, H + bottom,
                W + right);
}
void pad_bottom_right_backward_device(const float* gy, float* gx, int64_t planes, int H, int W, int bottom, int right) {
  launch_planes(crop_kernel, planes, (int64_t)H * W, "crop", gy, gx, planes, H, W, H + bottom, W + right);
}
void concat_channels_forward_device(const float* a, const float* b, float* y, int64_t B, int64_t Ca, int64_t Cb,
                                    int64_t plane) {
  const int64_t cols = (Ca + Cb) * plane;
  launch_planes(column_block_kernel, B, Ca * plane, "column block", a, y, B, Ca * plane, cols, 0, false);
  launch_planes(column_block_kernel, B, Cb * plane, "column block", b, y, B, Cb * plane, cols, Ca * plane, false);
}
void concat_channels_backward_device(const float* gy, float* ga, float* gb, int64_t B, int64_t Ca, int64_t Cb,
                                     int64_t plane) {
  const int64_t cols = (Ca + Cb) * plane;
  launch_planes(column_block_kernel, B, Ca * plane, "column block", gy, ga, B, Ca * plane, cols, 0, true);
  launch_planes(column_block_kernel, B, Cb * plane, "column block", gy, gb, B, Cb * plane, cols, Ca * plane, true);
}
void add_device(const float* a, const float* b, float* y, int64_t n) {
  launch_elementwise(add_kernel, n, "add", a, b, y, n);
}
void add_scaled_device(float* acc, const float* b, float scale, int64_t n) {
  launch_elementwise(add_scaled_kernel, n, "add scaled", acc, b, scale, n);
}
namespace {

// [batch, rows, cols] -> [batch, cols, rows].
void transpose_device(const float* src, float* dst, int64_t batch, int64_t rows, int64_t cols) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return;
  if (batch > 65535 || (rows + kTransposeTile - 1) / kTransposeTile > 65535)
    throw std::invalid_argument("transpose (CUDA): more than 65535 images or 2M rows");
  CXRL_LAUNCH(transpose_tiles_kernel, transpose_grid(batch, rows, cols), kTransposeThreads, 0)(src, dst, rows, cols);
  check(cudaGetLastError(), "transpose launch");
}

}  // namespace

void nchw_to_tokens_device(const float* x, float* y, int64_t B, int64_t C, int64_t HW) {
  transpose_device(x, y, B, C, HW);
}
void tokens_to_nchw_device(const float* t, float* y, int64_t B, int64_t C, int64_t HW) {
  transpose_device(t, y, B, HW, C);
}
void add_plane_bias_device(float* h, const float* t, int64_t planes, int64_t HW) {
  launch_planes(plane_bias_kernel, planes, HW, "plane bias", h, t, planes, HW);
}
void plane_sums_device(const float* g, float* out, int64_t planes, int64_t HW) {
  CXRL_LAUNCH(plane_sum_kernel, (unsigned)planes, kPlaneSumThreads, 0)(g, out, HW);
  check(cudaGetLastError(), "plane_sum launch");
}

}  // namespace cxrl
