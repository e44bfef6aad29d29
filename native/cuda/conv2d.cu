// Convolution on the device as im2col + GEMM (cuBLAS or the built-in tiled kernel), images in
// groups so the column buffer stays bounded; the backward's dx gathers the column gradient back
// (col2im without atomics: each input pixel sums the taps that read it).
#include <algorithm>
#include <stdexcept>

#include "cuda/conv2d_kernels.cuh"
#include "cuda/device_memory.h"
#include "cuda/elementwise_launch.cuh"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

// Column buffers are capped at 256 MiB: a few images of an SD-sized layer at a time.
constexpr size_t kColumnBytes = size_t(256) << 20;

Dims dims_of(const ConvShape& s) {
  Dims d{s.Cin, s.H, s.W, s.Cout, s.k, s.stride, s.pad, 0, 0};
  d.Ho = (s.H + 2 * s.pad - s.k) / s.stride + 1;
  d.Wo = (s.W + 2 * s.pad - s.k) / s.stride + 1;
  if (s.B <= 0 || d.Ho <= 0 || d.Wo <= 0) throw std::invalid_argument("conv2d (CUDA): output would be empty");
  return d;
}

int images_per_group(const Dims& d, int B) {
  return (int)std::max<int64_t>(1, std::min<int64_t>(B, kColumnBytes / (d.rows() * d.cols() * sizeof(float))));
}

}  // namespace

void conv2d_forward_device(const ConvShape& s, const float* x, const float* w, const float* b, float* y) {
  const Dims d = dims_of(s);
  const int group = images_per_group(d, s.B);
  DeviceArray<float> col((size_t)group * d.rows() * d.cols());
  for (int i0 = 0; i0 < s.B; i0 += group) {
    const int n = std::min(group, s.B - i0);
    const float* xi = x + (int64_t)i0 * d.Cin * d.H * d.W;
    launch_elementwise(im2col_kernel, n * d.rows() * d.cols(), "im2col", d, xi, n, col.data());
    for (int j = 0; j < n; ++j)  // y_img [Cout, HoWo] = w [Cout, Cin k k] col_img [Cin k k, HoWo]
      sgemm_device(false, false, d.Cout, (int)d.cols(), (int)d.rows(), 1.f, w, (int)d.rows(),
                   col.data() + (int64_t)j * d.rows() * d.cols(), (int)d.cols(), 0.f,
                   y + (int64_t)(i0 + j) * d.Cout * d.cols(), (int)d.cols());
  }
  if (b) {
    const int64_t total = (int64_t)s.B * d.Cout * d.cols();
    launch_elementwise(add_channel_bias, total, "conv bias", y, b, total, d.cols(), d.Cout);
  }
}

void conv2d_backward_device(const ConvShape& s, const float* x, const float* w, const float* gy, float* gx, float* gw,
                            float* gb) {
  const Dims d = dims_of(s);
  const int group = images_per_group(d, s.B);
  DeviceArray<float> col((size_t)group * d.rows() * d.cols());
  for (int i0 = 0; i0 < s.B; i0 += group) {
    const int n = std::min(group, s.B - i0);
    if (gw) {  // gw [Cout, Cin k k] += gy_img [Cout, HoWo] col_img^T
      launch_elementwise(im2col_kernel, n * d.rows() * d.cols(), "im2col", d, x + (int64_t)i0 * d.Cin * d.H * d.W, n,
                         col.data());
      for (int j = 0; j < n; ++j)
        sgemm_device(false, true, d.Cout, (int)d.rows(), (int)d.cols(), 1.f, gy + (int64_t)(i0 + j) * d.Cout * d.cols(),
                     (int)d.cols(), col.data() + (int64_t)j * d.rows() * d.cols(), (int)d.cols(), 1.f, gw,
                     (int)d.rows());
    }
    if (gx) {  // gcol_img [Cin k k, HoWo] = w^T gy_img, then gathered into gx
      for (int j = 0; j < n; ++j)
        sgemm_device(true, false, (int)d.rows(), (int)d.cols(), d.Cout, 1.f, w, (int)d.rows(),
                     gy + (int64_t)(i0 + j) * d.Cout * d.cols(), (int)d.cols(), 0.f,
                     col.data() + (int64_t)j * d.rows() * d.cols(), (int)d.cols());
      const int64_t total = (int64_t)n * d.Cin * d.H * d.W;
      launch_elementwise(col2im_kernel, total, "col2im", d, col.data(), n, gx + (int64_t)i0 * d.Cin * d.H * d.W);
    }
  }
  if (gb) {
    CXRL_LAUNCH(channel_sum, d.Cout, kChannelSumThreads, 0)(gy, s.B, d.Cout, d.cols(), gb);
    check(cudaGetLastError(), "conv bias grad launch");
  }
}

}  // namespace cxrl
