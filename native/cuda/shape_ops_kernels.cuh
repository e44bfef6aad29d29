// Layout ops on the device (twins of native/ops/shape_ops.cc), plus the ResNet block's per-channel
// time-embedding add and its gradient: the kernels. Pure data movement, one thread per output
// value (the transpose: per value of a shared tile), most on plane grids. shape_ops.cu launches
// them; a CPU test runs them on an emulated GPU (native/tests/test_emulated_layout.cc).
#pragma once
#include <cstdint>

#include "cuda/block_reduce.cuh"
#include "cuda/elementwise.cuh"

namespace cxrl {
namespace {

constexpr int kPlaneSumThreads = 256;  // plane_sum_kernel: one block per plane

// The kernels over image planes run on plane_grid (elementwise.cuh): the plane from the grid, one
// 32-bit division per value at most.

// y [planes, 2H, 2W]: plane_grid(planes, 4 H W).
__global__ void upsample2x_kernel(const float* x, float* y, int64_t planes, int H, int W) {
  CXRL_FOR_EACH_PLANE(p, planes) {
    const float* xp = x + p * H * W;
    float* yp = y + p * 4 * H * W;
    CXRL_PLANE_STRIDE(i, 4 * H * W) {
      const int oy = i / (2 * W), ox = i - oy * 2 * W;
      yp[i] = xp[(oy / 2) * W + ox / 2];
    }
  }
}

// gx [planes, H, W]: plane_grid(planes, H W).
__global__ void upsample2x_backward_kernel(const float* gy, float* gx, int64_t planes, int H, int W) {
  CXRL_FOR_EACH_PLANE(p, planes) {
    const float* gp = gy + p * 4 * H * W;
    float* xp = gx + p * H * W;
    CXRL_PLANE_STRIDE(i, H * W) {
      const int y = i / W, x = i - y * W;
      const float* g = gp + (2 * y) * 2 * W + 2 * x;
      xp[i] = g[0] + g[1] + g[2 * W] + g[2 * W + 1];
    }
  }
}

// Copies the [rows, cols_src] block into columns [c0, c0 + cols_src) of a [rows, cols_dst] layout
// (channel concat: rows = B, cols = C * HW), or back out of it when `gather`. plane_grid(rows,
// cols_src): no division at all.
__global__ void column_block_kernel(const float* src, float* dst, int64_t rows, int64_t cols_src, int64_t cols_dst,
                                    int64_t c0, bool gather) {
  CXRL_FOR_EACH_PLANE(r, rows) {
    const int64_t wide = r * cols_dst + c0, narrow = r * cols_src;
    CXRL_PLANE_STRIDE(c, (int)cols_src) {
      if (gather)
        dst[narrow + c] = src[wide + c];
      else
        dst[wide + c] = src[narrow + c];
    }
  }
}

// Zero padding below and right: y [planes, Hp = H + bottom, Wp = W + right]. plane_grid(planes, Hp Wp).
__global__ void pad_kernel(const float* x, float* y, int64_t planes, int H, int W, int Hp, int Wp) {
  CXRL_FOR_EACH_PLANE(p, planes) {
    const float* xp = x + p * H * W;
    float* yp = y + p * Hp * Wp;
    CXRL_PLANE_STRIDE(i, Hp * Wp) {
      const int yy = i / Wp, xx = i - yy * Wp;
      yp[i] = (yy < H && xx < W) ? xp[yy * W + xx] : 0.f;
    }
  }
}

// gx [planes, H, W] from gy [planes, Hp, Wp]: plane_grid(planes, H W).
__global__ void crop_kernel(const float* gy, float* gx, int64_t planes, int H, int W, int Hp, int Wp) {
  CXRL_FOR_EACH_PLANE(p, planes) {
    const float* gp = gy + p * Hp * Wp;
    float* xp = gx + p * H * W;
    CXRL_PLANE_STRIDE(i, H * W) {
      const int yy = i / W, xx = i - yy * W;
      xp[i] = gp[yy * Wp + xx];
    }
  }
}

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t n) {
  CXRL_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

// dst[b][c][r] = src[b][r][c]: [batch, rows, cols] -> [batch, cols, rows] (planes [B, C, HW] to
// tokens [B, HW, C] with rows = C, and back with rows = HW), through a 32 x 33 shared tile so that
// the reads (along cols) and the writes (along rows) are both coalesced. Grid (column tiles, row
// tiles, batch), kTransposeThreads threads: 32 columns x 8 rows, 4 values each.
constexpr int kTransposeTile = 32, kTransposeThreads = 256;
__global__ void transpose_tiles_kernel(const float* src, float* dst, int64_t rows, int64_t cols) {
  __shared__ float tile[kTransposeTile][kTransposeTile + 1];  // the pad column: no bank conflicts
  const int tx = threadIdx.x % kTransposeTile, ty = threadIdx.x / kTransposeTile;
  const int64_t r0 = (int64_t)blockIdx.y * kTransposeTile, c0 = (int64_t)blockIdx.x * kTransposeTile;
  const float* s = src + blockIdx.z * rows * cols;
  float* d = dst + blockIdx.z * rows * cols;
  for (int i = ty; i < kTransposeTile; i += kTransposeThreads / kTransposeTile)
    if (r0 + i < rows && c0 + tx < cols) tile[i][tx] = s[(r0 + i) * cols + c0 + tx];
  __syncthreads();
  for (int i = ty; i < kTransposeTile; i += kTransposeThreads / kTransposeTile)
    if (c0 + i < cols && r0 + tx < rows) d[(c0 + i) * rows + r0 + tx] = tile[tx][i];
}
inline dim3 transpose_grid(int64_t batch, int64_t rows, int64_t cols) {
  return dim3((unsigned)((cols + kTransposeTile - 1) / kTransposeTile),
              (unsigned)((rows + kTransposeTile - 1) / kTransposeTile), (unsigned)batch);
}

__global__ void add_scaled_kernel(float* acc, const float* b, float scale, int64_t n) {
  CXRL_GRID_STRIDE(i, n) acc[i] += scale * b[i];
}

// h[p, :] += t[p]: plane_grid(planes, HW).
__global__ void plane_bias_kernel(float* h, const float* t, int64_t planes, int64_t HW) {
  CXRL_FOR_EACH_PLANE(p, planes) {
    float* hp = h + p * HW;
    const float tp = t[p];
    CXRL_PLANE_STRIDE(i, (int)HW) hp[i] += tp;
  }
}

// gt[p] = sum of the plane's values, in double: one block per plane.
__global__ void plane_sum_kernel(const float* g, float* out, int64_t HW) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) s += g[blockIdx.x * HW + i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[blockIdx.x] = (float)s;
}

}  // namespace
}  // namespace cxrl
