// Convolution on the device as im2col + GEMM (cuBLAS or the built-in tiled kernel), images in
// groups so the column buffer stays bounded. The forward and the column gradient are one strided
// batched GEMM per group (a product per image); the weight gradient is one plain GEMM per group,
// over the group's columns laid side by side ([Cin k k, images Ho Wo]) against gy laid the same way
// ([Cout, B Ho Wo]), so gw is read and written once per group, not once per image (deep layers have
// 8x8 images: 64 positions per image against a 1280 x 11520 gw). The backward's dx gathers the
// column gradient back (col2im without atomics: each input pixel sums the taps that read it). A 1x1
// convolution of stride 1 without padding reads the images themselves as its columns (no im2col, no
// col2im). Under bf16 compute the GEMM operands (columns, weights, gy) are stored as bf16, rounded
// once where they are made, so the column buffers move half the bytes; products accumulate in fp32
// into fp32 outputs either way.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/precision.h"
#include "cuda/conv2d_kernels.cuh"
#include "cuda/device_memory.h"
#include "cuda/elementwise_launch.cuh"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

// Column buffers are capped at 256 MiB by default: a few images of an SD-sized layer at a time.
constexpr size_t kDefaultColumnBytes = size_t(256) << 20;
size_t column_bytes = kDefaultColumnBytes;

Dims dims_of(const ConvShape& s) {
  Dims d{s.Cin, s.H, s.W, s.Cout, s.k, s.stride, s.pad, 0, 0};
  d.Ho = (s.H + 2 * s.pad - s.k) / s.stride + 1;
  d.Wo = (s.W + 2 * s.pad - s.k) / s.stride + 1;
  if (s.B <= 0 || d.Ho <= 0 || d.Wo <= 0) throw std::invalid_argument("conv2d (CUDA): output would be empty");
  return d;
}

// Images per column buffer of column_bytes, for columns of value_bytes per value.
int images_per_group(const Dims& d, int B, size_t value_bytes) {
  const int64_t fit = (int64_t)(column_bytes / (d.rows() * d.cols() * value_bytes));
  return (int)std::max<int64_t>(1, std::min<int64_t>({B, fit, kMaxGemmBatch}));
}

// A 1x1 convolution of stride 1 without padding: its im2col is the image itself.
bool reads_images_as_columns(const ConvShape& s) { return s.k == 1 && s.stride == 1 && s.pad == 0; }

// n fp32 values as a GEMM operand of type T: the values themselves, or a bf16 copy in *copy.
const float* as_operand(const float* src, int64_t, DeviceArray<float>*) { return src; }
const __nv_bfloat16* as_operand(const float* src, int64_t n, DeviceArray<__nv_bfloat16>* copy) {
  *copy = DeviceArray<__nv_bfloat16>(n);
  launch_elementwise(round_to_bf16_kernel, n, "bf16 operand", src, copy->data(), n);
  return copy->data();
}

// B images [B, C, plane] as one GEMM operand of type T with the images side by side: [C, B plane].
template <typename T>
DeviceArray<T> side_by_side(const float* src, int B, int C, int64_t plane) {
  const Dims channels{C, 1, (int)plane, 0, 1, 1, 0, 1, (int)plane};  // a 1x1 im2col of [C, 1, plane] images
  DeviceArray<T> out((size_t)B * C * plane);
  launch_planes(im2col_kernel<T>, (int64_t)B * C, plane, "side-by-side operand", channels, src, B, true, out.data());
  return out;
}

// Row-major products C = op(A) op(B) (+ beta C) with operands of type T, one or a strided batch.
void gemm_batched(bool ta, bool tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float beta,
                  float* C, int ldc, const GemmBatch& batch) {
  sgemm_batched_device(ta, tb, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc, batch);
}
void gemm_batched(bool ta, bool tb, int M, int N, int K, const __nv_bfloat16* A, int lda, const __nv_bfloat16* B,
                  int ldb, float beta, float* C, int ldc, const GemmBatch& batch) {
  gemm_bf16_batched_device(ta, tb, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc, batch);
}

// A GEMM dimension as the int the GEMMs take.
int gemm_dim(int64_t n, const char* what) {
  if (n > INT32_MAX) throw std::invalid_argument(std::string("conv2d (CUDA): ") + what + " exceeds a GEMM dimension");
  return (int)n;
}

// Sizes of one image's tensors.
struct ImageSizes {
  int64_t x, y, col;
  explicit ImageSizes(const Dims& d)
      : x((int64_t)d.Cin * d.H * d.W), y((int64_t)d.Cout * d.cols()), col(d.rows() * d.cols()) {}
};

template <typename T>
void forward(const ConvShape& s, const Dims& d, const float* x, const float* w, float* y) {
  const ImageSizes size(d);
  DeviceArray<T> w_copy, x_copy;
  const T* wt = as_operand(w, (int64_t)d.Cout * d.rows(), &w_copy);
  // y_img [Cout, HoWo] = w [Cout, Cin k k] col_img [Cin k k, HoWo], for every image of a group at once.
  auto products = [&](const T* cols, int64_t cols_stride, float* out, int n) {
    gemm_batched(false, false, d.Cout, (int)d.cols(), (int)d.rows(), wt, (int)d.rows(), cols, (int)d.cols(), 0.f, out,
                 (int)d.cols(), GemmBatch{n, 0, cols_stride, size.y});
  };
  if (reads_images_as_columns(s)) {
    const T* xt = as_operand(x, s.B * size.x, &x_copy);
    for (int i0 = 0; i0 < s.B; i0 += kMaxGemmBatch)
      products(xt + i0 * size.x, size.x, y + i0 * size.y, std::min(kMaxGemmBatch, s.B - i0));
    return;
  }
  const int group = images_per_group(d, s.B, sizeof(T));
  DeviceArray<T> col((size_t)group * size.col);
  for (int i0 = 0; i0 < s.B; i0 += group) {
    const int n = std::min(group, s.B - i0);
    launch_planes(im2col_kernel<T>, n * d.rows(), d.cols(), "im2col", d, x + i0 * size.x, n, false, col.data());
    products(col.data(), size.col, y + i0 * size.y, n);
  }
}

template <typename T>
void backward(const ConvShape& s, const Dims& d, const float* x, const float* w, const float* gy, float* gx,
              float* gw) {
  const ImageSizes size(d);
  // gy with the images side by side, [Cout, B HoWo]: image i's gy_img is the column block at i HoWo.
  const DeviceArray<T> gy_wide = side_by_side<T>(gy, s.B, d.Cout, d.cols());
  const int ld_gy = gemm_dim(s.B * d.cols(), "batch x output positions");
  // gw [Cout, Cin k k] += gy_wide[:, images] cols^T over the images [first, first + n) in one
  // product: cols [Cin k k, n HoWo] with leading dimension ld_cols.
  auto weight_grad = [&](const T* cols, int ld_cols, int first, int n) {
    gemm_batched(false, true, d.Cout, (int)d.rows(), gemm_dim(n * d.cols(), "group x output positions"),
                 gy_wide.data() + first * d.cols(), ld_gy, cols, ld_cols, 1.f, gw, (int)d.rows(), GemmBatch{});
  };
  // gcol_img [Cin k k, HoWo] = w^T gy_img, for every image of a group at once (image-major output).
  DeviceArray<T> w_copy;
  const T* wt = gx ? as_operand(w, (int64_t)d.Cout * d.rows(), &w_copy) : nullptr;
  auto column_grads = [&](int first, int n, float* gcols, int64_t gcols_stride) {
    gemm_batched(true, false, (int)d.rows(), (int)d.cols(), d.Cout, wt, (int)d.rows(),
                 gy_wide.data() + first * d.cols(), ld_gy, 0.f, gcols, (int)d.cols(),
                 GemmBatch{n, 0, d.cols(), gcols_stride});
  };
  if (reads_images_as_columns(s)) {
    if (gw) {  // the columns are x's channels side by side: one product over the whole batch
      const DeviceArray<T> x_wide = side_by_side<T>(x, s.B, d.Cin, d.cols());
      weight_grad(x_wide.data(), ld_gy, 0, s.B);
    }
    if (gx)
      for (int i0 = 0; i0 < s.B; i0 += kMaxGemmBatch)  // the column gradient is dx
        column_grads(i0, std::min(kMaxGemmBatch, s.B - i0), gx + i0 * size.x, size.x);
    return;
  }
  // One buffer per group: the side-by-side columns (type T) for gw, then the fp32 column gradient
  // for gx (the products run in stream order, so the second overwrites the first only after it was read).
  const int group = images_per_group(d, s.B, sizeof(float));
  DeviceArray<float> buffer((size_t)group * size.col);
  T* col = reinterpret_cast<T*>(buffer.data());
  for (int i0 = 0; i0 < s.B; i0 += group) {
    const int n = std::min(group, s.B - i0);
    if (gw) {
      launch_planes(im2col_kernel<T>, n * d.rows(), d.cols(), "im2col", d, x + i0 * size.x, n, true, col);
      weight_grad(col, (int)(n * d.cols()), i0, n);
    }
    if (gx) {
      column_grads(i0, n, buffer.data(), size.col);
      launch_planes(col2im_kernel, (int64_t)n * d.Cin, (int64_t)d.H * d.W, "col2im", d, buffer.data(), n,
                    gx + i0 * size.x);
    }
  }
}

bool bf16_operands() { return compute_precision() == ComputePrecision::kBf16; }

}  // namespace

size_t set_conv2d_column_bytes(size_t bytes) {
  const size_t previous = column_bytes;
  column_bytes = bytes ? bytes : kDefaultColumnBytes;
  return previous;
}

void conv2d_forward_device(const ConvShape& s, const float* x, const float* w, const float* b, float* y) {
  const Dims d = dims_of(s);
  if (bf16_operands())
    forward<__nv_bfloat16>(s, d, x, w, y);
  else
    forward<float>(s, d, x, w, y);
  if (b) {
    const int64_t planes = (int64_t)s.B * d.Cout;
    launch_planes(add_channel_bias, planes, d.cols(), "conv bias", y, b, planes, (int)d.cols(), d.Cout);
  }
}

void conv2d_backward_device(const ConvShape& s, const float* x, const float* w, const float* gy, float* gx, float* gw,
                            float* gb) {
  const Dims d = dims_of(s);
  if (gx || gw) {
    if (bf16_operands())
      backward<__nv_bfloat16>(s, d, x, w, gy, gx, gw);
    else
      backward<float>(s, d, x, w, gy, gx, gw);
  }
  if (gb) {
    CXRL_LAUNCH(channel_sum, d.Cout, kChannelSumThreads, 0)(gy, s.B, d.Cout, d.cols(), gb);
    check(cudaGetLastError(), "conv bias grad launch");
  }
}

}  // namespace cxrl
