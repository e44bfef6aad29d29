// GroupNorm / LayerNorm on the device (twins of native/ops/norm.cc): the kernels. norm.cu launches
// them; a CPU test runs them on an emulated GPU (native/tests/test_emulated_norm.cc).
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/block_reduce.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

constexpr int kNormThreads = 256, kFinishThreads = 256;

// The forward runs in three steps so that every SM has work even with few, long rows (GroupNorm's
// 32 groups of 40960 values at SD resolution): slices of at most kSlice values each give their
// (count, mean, M2), two passes in double over the slice; the slices of a row are merged in order
// (Chan et al.'s parallel variance), and an elementwise pass normalises. x is read twice. The
// backward's input gradient uses the same slices.
constexpr int64_t kSlice = 8192;
inline int64_t norm_slices(int64_t len) { return (len + kSlice - 1) / kSlice; }
inline unsigned finish_blocks(int64_t rows) { return (unsigned)((rows + kFinishThreads - 1) / kFinishThreads); }

// This block's slice: values [j0, j1) of row `row` (rows of len values, `slices` blocks per row),
// which starts at base and whose first channel is c0: value j's channel is c0 + j / S, in 32-bit
// arithmetic (no 64-bit division per value).
struct NormSlice {
  int64_t row, len, base, c0;
  int j0, j1;
};
__device__ NormSlice block_slice(const NormShape& s, int64_t slices) {
  const int64_t row = (int64_t)blockIdx.x / slices, len = s.C / s.G * s.S, j0 = blockIdx.x % slices * kSlice;
  return {row, len, row * len, (row % s.G) * (s.C / s.G), (int)j0, (int)min(len, j0 + kSlice)};
}

struct SliceMoments {
  double count, mean, m2;
};

__global__ void norm_slice_moments(NormShape s, const float* x, int64_t slices, SliceMoments* out) {
  const NormSlice sl = block_slice(s, slices);
  const int j0 = sl.j0, j1 = sl.j1;
  const float* xr = x + sl.base;
  double acc = 0;
  for (int j = j0 + threadIdx.x; j < j1; j += blockDim.x) acc += xr[j];
  const double n = (double)(j1 - j0), mu = block_sum(acc) / n;
  acc = 0;
  for (int j = j0 + threadIdx.x; j < j1; j += blockDim.x) acc += (xr[j] - mu) * (xr[j] - mu);
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[blockIdx.x] = {n, mu, acc};
}

__global__ void norm_finish_stats(int64_t rows, int64_t slices, const SliceMoments* m, float eps, float* mean,
                                  float* rstd) {
  const int64_t row = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (row >= rows) return;
  SliceMoments a = m[row * slices];
  for (int64_t k = 1; k < slices; ++k) {
    const SliceMoments b = m[row * slices + k];
    const double n = a.count + b.count, delta = b.mean - a.mean;
    a = {n, a.mean + delta * b.count / n, a.m2 + b.m2 + delta * delta * a.count * b.count / n};
  }
  mean[row] = (float)a.mean;
  rstd[row] = (float)(1.0 / sqrt(a.m2 / a.count + eps));
}

// One block per slice, as for the moments: the row (so mean and rstd) is the block's.
__global__ void norm_apply(NormShape s, const float* x, const float* gamma, const float* beta, const float* mean,
                           const float* rstd, int64_t slices, float* y, bool silu, float* pre) {
  const NormSlice sl = block_slice(s, slices);
  const int j0 = sl.j0, j1 = sl.j1, S = (int)s.S;
  const int64_t row = sl.row, base = sl.base, c0 = sl.c0;
  const float mu = mean[row], r = rstd[row];
  for (int j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const int64_t c = c0 + j / S;
    const float n = (x[base + j] - mu) * r * gamma[c] + beta[c];
    if (silu) {
      if (pre) pre[base + j] = n;
      y[base + j] = n / (1.f + expf(-n));
    } else {
      y[base + j] = n;
    }
  }
}

// The input gradient dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = gy gamma,
// in the forward's slices: each slice's two sums, then an elementwise pass whose blocks add their
// row's slice sums in order (every block of a row gets the same means).
struct SliceGradSums {
  double dxhat, dxhat_xhat;
};

__global__ void norm_grad_slice_sums(NormShape s, const float* x, const float* gamma, const float* mean,
                                     const float* rstd, const float* gy, int64_t slices, SliceGradSums* out) {
  const NormSlice sl = block_slice(s, slices);
  const int j0 = sl.j0, j1 = sl.j1, S = (int)s.S;
  const int64_t row = sl.row, base = sl.base, c0 = sl.c0;
  const float mu = mean[row], r = rstd[row];
  double a1 = 0, a2 = 0;
  for (int j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const double d = (double)gy[base + j] * gamma[c0 + j / S];
    a1 += d;
    a2 += d * (x[base + j] - mu) * r;
  }
  a1 = block_sum(a1);
  a2 = block_sum(a2);
  if (threadIdx.x == 0) out[blockIdx.x] = {a1, a2};
}

__global__ void norm_input_grad_apply(NormShape s, const float* x, const float* gamma, const float* mean,
                                      const float* rstd, const float* gy, int64_t slices, const SliceGradSums* sums,
                                      float* gx) {
  const NormSlice sl = block_slice(s, slices);
  const int j0 = sl.j0, j1 = sl.j1, S = (int)s.S;
  const int64_t row = sl.row, base = sl.base, c0 = sl.c0;
  double a1 = 0, a2 = 0;
  for (int64_t k = 0; k < slices; ++k) a1 += sums[row * slices + k].dxhat, a2 += sums[row * slices + k].dxhat_xhat;
  const float m1 = (float)(a1 / sl.len), m2 = (float)(a2 / sl.len), mu = mean[row], r = rstd[row];
  for (int j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const float xhat = (x[base + j] - mu) * r;
    gx[base + j] = r * (gy[base + j] * gamma[c0 + j / S] - m1 - xhat * m2);
  }
}

// ggamma[c] += sum over b, s of gy xhat; gbeta[c] += sum of gy. One block per channel: for
// GroupNorm, whose channels are planes of S values each (walked image by image, no division per
// value); LayerNorm's (S = 1) go by NormParamValues instead.
__global__ void norm_param_grad_kernel(NormShape s, const float* x, const float* mean, const float* rstd,
                                       const float* gy, float* ggamma, float* gbeta) {
  const int64_t c = blockIdx.x, cpg = s.C / s.G;
  double dg = 0, db = 0;
  for (int64_t b = 0; b < s.B; ++b) {
    const int64_t row = b * s.G + c / cpg, plane = (b * s.C + c) * s.S;
    const float mu = mean[row], r = rstd[row];
    for (int64_t p = threadIdx.x; p < s.S; p += blockDim.x) {
      dg += (double)gy[plane + p] * (x[plane + p] - mu) * r;
      db += gy[plane + p];
    }
  }
  dg = block_sum(dg);
  db = block_sum(db);
  if (threadIdx.x == 0) {
    if (ggamma) ggamma[c] += (float)dg;
    if (gbeta) gbeta[c] += (float)db;
  }
}

// With S = 1 (LayerNorm over tokens: B rows of C channels, channels the fast axis) the parameter
// gradients are per-column sums (column_sums_kernels.cuh) of these two summands.
struct NormParamValues {
  NormShape s;
  const float *x, *mean, *rstd, *gy;
  __device__ void operator()(int64_t b, int c, double* v) const {
    const int64_t i = b * s.C + c, row = b * s.G + c / (s.C / s.G);
    v[0] = (double)gy[i] * (x[i] - mean[row]) * rstd[row];  // into ggamma
    v[1] = gy[i];                                           // into gbeta
  }
};

}  // namespace
}  // namespace cxrl
