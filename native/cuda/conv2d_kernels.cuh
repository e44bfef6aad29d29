// Convolution on the device as im2col + GEMM: the layout kernels (im2col, its adjoint col2im, the
// bias add and the bias gradient, and the rounding of GEMM operands to bf16 under bf16 compute).
// conv2d.cu launches them around the GEMMs; a CPU test runs them on an emulated GPU
// (native/tests/test_emulated_conv.cc).
#pragma once
#ifndef CXRL_CUDA_EMULATION  // the emulation test provides these names itself
#include <cuda_bf16.h>
#endif

#include <cstdint>

#include "cuda/block_reduce.cuh"
#include "cuda/elementwise.cuh"

namespace cxrl {
namespace {

struct Dims {
  int Cin, H, W, Cout, k, stride, pad, Ho, Wo;
  __host__ __device__ int64_t rows() const { return (int64_t)Cin * k * k; }
  __host__ __device__ int64_t cols() const { return (int64_t)Ho * Wo; }
};

// The column buffer's element: fp32, or bf16 under bf16 compute (half the bytes written and read).
__device__ __forceinline__ void store_column(float* dst, float v) { *dst = v; }
__device__ __forceinline__ void store_column(__nv_bfloat16* dst, float v) { *dst = __float2bfloat16_rn(v); }

// The columns of a group of images, row r = (c k + ky) k + kx, position p = oy Wo + ox:
//   per image     col[img][r][p]       (the forward's batched products, one per image)
//   side by side  col[r][img Ho Wo + p] (the weight gradient's one product over the whole group)
// col = x[img][c][oy s - p + ky][ox s - p + kx] (0 outside). With k = 1, stride 1, padding 0 the
// side-by-side columns are the images' channels side by side, [C, images H W].
template <typename T>
__global__ void im2col_kernel(Dims d, const float* x, int images, bool side_by_side, T* col) {
  const int64_t rows = d.rows(), cols = d.cols();
  CXRL_GRID_STRIDE(i, images * rows * cols) {
    const int pos = (int)(i % cols), oy = pos / d.Wo, ox = pos % d.Wo;
    const int64_t outer = i / cols;
    const int64_t img = side_by_side ? outer % images : outer / rows, r = side_by_side ? outer / images : outer % rows;
    const int c = (int)(r / (d.k * d.k)), ky = (int)(r / d.k % d.k), kx = (int)(r % d.k);
    const int iy = oy * d.stride - d.pad + ky, ix = ox * d.stride - d.pad + kx;
    store_column(col + i,
                 (iy >= 0 && iy < d.H && ix >= 0 && ix < d.W) ? x[((img * d.Cin + c) * d.H + iy) * d.W + ix] : 0.f);
  }
}

// gx[img][c][iy][ix] = sum of gcol over the taps (ky, kx) whose output pixel reads (iy, ix).
__global__ void col2im_kernel(Dims d, const float* gcol, int images, float* gx) {
  const int64_t plane = (int64_t)d.H * d.W, per_image = d.Cin * plane;
  CXRL_GRID_STRIDE(i, images * per_image) {
    const int64_t img = i / per_image;
    const int c = (int)(i % per_image / plane), iy = (int)(i % plane / d.W), ix = (int)(i % d.W);
    const float* g = gcol + img * d.rows() * d.cols();
    float s = 0.f;
    for (int ky = 0; ky < d.k; ++ky) {
      const int ty = iy + d.pad - ky;
      if (ty < 0 || ty % d.stride != 0 || ty / d.stride >= d.Ho) continue;
      for (int kx = 0; kx < d.k; ++kx) {
        const int tx = ix + d.pad - kx;
        if (tx < 0 || tx % d.stride != 0 || tx / d.stride >= d.Wo) continue;
        s += g[((int64_t)(c * d.k + ky) * d.k + kx) * d.cols() + (ty / d.stride) * d.Wo + tx / d.stride];
      }
    }
    gx[i] = s;
  }
}

// dst = src rounded to bfloat16 (nearest even): a GEMM operand under bf16 compute.
__global__ void round_to_bf16_kernel(const float* src, __nv_bfloat16* dst, int64_t n) {
  CXRL_GRID_STRIDE(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

constexpr int kChannelSumThreads = 256;  // channel_sum: one block per channel

__global__ void add_channel_bias(float* y, const float* b, int64_t total, int64_t plane, int C) {
  CXRL_GRID_STRIDE(i, total) y[i] += b[i / plane % C];
}

// gb[c] += sum over images and positions of gy: one block per channel.
__global__ void channel_sum(const float* gy, int B, int C, int64_t plane, float* gb) {
  const int c = blockIdx.x;
  float s = 0.f;
  for (int b = 0; b < B; ++b)
    for (int64_t p = threadIdx.x; p < plane; p += blockDim.x) s += gy[((int64_t)b * C + c) * plane + p];
  s = block_sum(s);
  if (threadIdx.x == 0) gb[c] += s;
}

}  // namespace
}  // namespace cxrl
