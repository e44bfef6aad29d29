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

// The layout kernels run on plane_grid (elementwise.cuh): a plane is one (image, row) of the
// columns or one (image, channel) of an image, taken from the grid, so a value costs one 32-bit
// division (a flat index would need several 64-bit ones, which on a GPU cost more than the value's
// memory traffic).

// The columns of a group of images, row r = (c k + ky) k + kx, position p = oy Wo + ox:
//   per image     col[img][r][p]       (the forward's batched products, one per image)
//   side by side  col[r][img Ho Wo + p] (the weight gradient's one product over the whole group)
// col = x[img][c][oy s - p + ky][ox s - p + kx] (0 outside). With k = 1, stride 1, padding 0 the
// side-by-side columns are the images' channels side by side, [C, images H W].
// plane_grid(images Cin k k, Ho Wo): plane img rows + r.
template <typename T>
__global__ void im2col_kernel(Dims d, const float* x, int images, bool side_by_side, T* col) {
  const int cols = d.Ho * d.Wo;
  CXRL_FOR_EACH_PLANE(q, images * d.rows()) {
    const int64_t img = q / d.rows();
    const int r = (int)(q % d.rows()), c = r / (d.k * d.k), ky = r / d.k % d.k, kx = r % d.k;
    const float* plane = x + (img * d.Cin + c) * d.H * d.W;
    T* out = col + (side_by_side ? (int64_t)r * images + img : q) * cols;
    CXRL_PLANE_STRIDE(p, cols) {
      const int oy = p / d.Wo, ox = p - oy * d.Wo;
      const int iy = oy * d.stride - d.pad + ky, ix = ox * d.stride - d.pad + kx;
      store_column(out + p, (iy >= 0 && iy < d.H && ix >= 0 && ix < d.W) ? plane[iy * d.W + ix] : 0.f);
    }
  }
}

// gx[img][c][iy][ix] = sum of gcol (per-image layout) over the taps (ky, kx) whose output pixel
// reads (iy, ix). plane_grid(images Cin, H W): plane img Cin + c.
__global__ void col2im_kernel(Dims d, const float* gcol, int images, float* gx) {
  const int cols = d.Ho * d.Wo;
  CXRL_FOR_EACH_PLANE(q, (int64_t)images * d.Cin) {
    const int64_t img = q / d.Cin;
    const int c = (int)(q % d.Cin);
    const float* g = gcol + img * d.rows() * cols;
    float* out = gx + q * d.H * d.W;
    CXRL_PLANE_STRIDE(i, d.H * d.W) {
      const int iy = i / d.W, ix = i - iy * d.W;
      float s = 0.f;
      for (int ky = 0; ky < d.k; ++ky) {
        const int ty = iy + d.pad - ky;
        if (ty < 0 || ty % d.stride != 0 || ty / d.stride >= d.Ho) continue;
        for (int kx = 0; kx < d.k; ++kx) {
          const int tx = ix + d.pad - kx;
          if (tx < 0 || tx % d.stride != 0 || tx / d.stride >= d.Wo) continue;
          s += g[((int64_t)(c * d.k + ky) * d.k + kx) * cols + (ty / d.stride) * d.Wo + tx / d.stride];
        }
      }
      out[i] = s;
    }
  }
}

// dst = src rounded to bfloat16 (nearest even): a GEMM operand under bf16 compute.
__global__ void round_to_bf16_kernel(const float* src, __nv_bfloat16* dst, int64_t n) {
  CXRL_GRID_STRIDE(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

constexpr int kChannelSumThreads = 256;  // channel_sum: one block per channel

// y[img][c][p] += b[c]. plane_grid(images C, plane): plane img C + c.
__global__ void add_channel_bias(float* y, const float* b, int64_t planes, int plane, int C) {
  CXRL_FOR_EACH_PLANE(q, planes) {
    float* out = y + q * plane;
    const float bc = b[q % C];
    CXRL_PLANE_STRIDE(p, plane) out[p] += bc;
  }
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
