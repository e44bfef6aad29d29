// Multi-head attention on the device, flash-style (the kernels: attention.cu launches them, and a CPU
// test runs them on an emulated GPU, native/tests/test_emulated_attention.cc). Scores are made one
// key tile at a time in shared memory with an online softmax, so no [Lq, Lk] matrix is ever stored.
// The forward keeps the output and each row's log-sum-exp; the backward recomputes the
// probabilities from them (two kernels: query-major for dQ, key-major for dK and dV; no atomics,
// so it is deterministic).
// These are the fp32 kernels; under bf16 compute, head dims up to 160 go to the tensor-core
// kernels (attention_tensor_core.cu), which these check on the device.
//
// Layout: one warp owns kRowsPerWarp rows (queries, or keys in the dK/dV kernel); a row's d values
// are spread over the lanes (lane holds c = lane + 32 t). Within a tile, lane j scores key (or
// query) j of the tile against the row.
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/ops.h"
#include "cuda/shared_memory.cuh"

namespace cxrl {
namespace {

constexpr int kWarps = 4, kRowsPerWarp = 4, kTile = 32, kMaxPerLane = kMaxAttentionHeadDim / 32;
constexpr int kRowsPerBlock = kWarps * kRowsPerWarp;

// Launch geometry (attention.cu and the emulation test): kWarps * 32 threads per block, one block
// per kRowsPerBlock rows (queries; keys in dK/dV) of one (batch, head); dynamic shared memory in
// bytes. The delta kernel: one warp per query row, 8 warps per block.
constexpr int kDeltaThreads = 256;
inline unsigned row_blocks(int64_t rows) { return (unsigned)((rows + kRowsPerBlock - 1) / kRowsPerBlock); }
inline unsigned delta_blocks(int64_t rows) {
  return (unsigned)((rows + kDeltaThreads / 32 - 1) / (kDeltaThreads / 32));
}
inline size_t forward_smem_bytes(int d) {
  return sizeof(float) * (2 * kTile * (d + 1) + kRowsPerBlock * d + kWarps * kTile);
}
inline size_t dq_smem_bytes(int d) {
  return sizeof(float) * (2 * kTile * (d + 1) + 2 * kRowsPerBlock * d + kWarps * kTile);
}
inline size_t dkv_smem_bytes(int d) {
  return sizeof(float) * (2 * kTile * (d + 1) + 2 * kRowsPerBlock * d + 2 * kTile + 2 * kWarps * kTile);
}

__device__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}
__device__ float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Row `row` of head h of a [B, L, H d] tensor.
__device__ const float* head_row(const float* t, const AttentionShape& s, int b, int64_t L, int64_t row, int h) {
  return t + ((int64_t)b * L + row) * s.H * s.d + (int64_t)h * s.d;
}

// Copies rows [r0, r0 + n) of head h into smem rows of stride `stride` (zeros past L).
__device__ void load_rows(float* dst, int stride, const float* t, const AttentionShape& s, int b, int64_t L, int64_t r0,
                          int n, int h) {
  for (int i = threadIdx.x; i < n * s.d; i += blockDim.x) {
    const int r = i / s.d, c = i % s.d;
    dst[r * stride + c] = r0 + r < L ? head_row(t, s, b, L, r0 + r, h)[c] : 0.f;
  }
}

__device__ float dot(const float* a, const float* b, int d) {
  float acc = 0.f;
  for (int c = 0; c < d; ++c) acc = fmaf(a[c], b[c], acc);
  return acc;
}

__device__ bool key_kept(const float* mask, int b, int64_t Lk, int64_t j) {
  return j < Lk && (!mask || mask[(int64_t)b * Lk + j] != 0.f);
}

// For the lane's values c = lane + 32 t of one row: acc[t] = decay acc[t] + sum_j w[j] tile[j][c]
// over a tile of kTile rows of stride ts (w is the warp's weights for the tile, in shared memory).
__device__ __forceinline__ void add_weighted_tile(float (&acc)[kMaxPerLane], float decay, const float* w,
                                                  const float* tile, int ts, int d) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < kMaxPerLane; ++t) {
    const int c = lane + 32 * t;
    if (c >= d) break;
    float a = acc[t] * decay;
    for (int j = 0; j < kTile; ++j) a = fmaf(w[j], tile[j * ts + c], a);
    acc[t] = a;
  }
}

// dst[c] = scale acc[t] for the lane's values c < d of one row.
__device__ __forceinline__ void store_row(float* dst, const float (&acc)[kMaxPerLane], float scale, int d) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < kMaxPerLane; ++t) {
    const int c = lane + 32 * t;
    if (c < d) dst[c] = acc[t] * scale;
  }
}

__global__ void attention_forward_kernel(AttentionShape s, const float* q, const float* k, const float* v,
                                         const float* mask, float* out, float* lse) {
  CXRL_DYNAMIC_SHARED(float, sm);
  const int ts = s.d + 1;  // padded tile stride: lane j reads row j without bank conflicts
  float *Ks = sm, *Vs = Ks + kTile * ts, *Qs = Vs + kTile * ts, *P = Qs + kRowsPerBlock * s.d;
  const int b = blockIdx.y / s.H, h = blockIdx.y % s.H, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row0 = (int64_t)blockIdx.x * kRowsPerBlock;
  const float scale = rsqrtf((float)s.d);
  load_rows(Qs, s.d, q, s, b, s.Lq, row0, kRowsPerBlock, h);
  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kMaxPerLane];
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.f;
    for (int t = 0; t < kMaxPerLane; ++t) acc[r][t] = 0.f;
  }
  float* Pw = P + warp * kTile;
  for (int64_t j0 = 0; j0 < s.Lk; j0 += kTile) {
    __syncthreads();
    load_rows(Ks, ts, k, s, b, s.Lk, j0, kTile, h);
    load_rows(Vs, ts, v, s, b, s.Lk, j0, kTile, h);
    __syncthreads();
    const bool kept = key_kept(mask, b, s.Lk, j0 + lane);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const float* qr = Qs + (warp * kRowsPerWarp + r) * s.d;
      const float score = kept ? dot(qr, Ks + lane * ts, s.d) * scale : -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(score));
      if (m_new == -INFINITY) continue;  // every key so far masked: nothing to add
      const float p = kept ? __expf(score - m_new) : 0.f, corr = __expf(m[r] - m_new);
      l[r] = l[r] * corr + warp_sum(p);
      m[r] = m_new;
      Pw[lane] = p;
      __syncwarp();
      add_weighted_tile(acc[r], corr, Pw, Vs, ts, s.d);
      __syncwarp();
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t row = row0 + warp * kRowsPerWarp + r;
    if (row >= s.Lq) continue;
    float* o = out + ((int64_t)b * s.Lq + row) * s.H * s.d + (int64_t)h * s.d;
    store_row(o, acc[r], l[r] > 0.f ? 1.f / l[r] : 0.f, s.d);  // a fully masked row attends to nothing
    if (lane == 0) lse[((int64_t)b * s.H + h) * s.Lq + row] = l[r] > 0.f ? m[r] + logf(l[r]) : -INFINITY;
  }
}

// delta[b, h, i] = sum_c dO[i, c] O[i, c] (the softmax backward's row term), one warp per row.
__global__ void attention_delta_kernel(AttentionShape s, const float* out, const float* gy, float* delta) {
  const int64_t w = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (w >= (int64_t)s.B * s.H * s.Lq) return;
  const int64_t i = w % s.Lq, bh = w / s.Lq;
  const int b = (int)(bh / s.H), h = (int)(bh % s.H);
  const float *o = head_row(out, s, b, s.Lq, i, h), *g = head_row(gy, s, b, s.Lq, i, h);
  float acc = 0.f;
  for (int c = lane; c < s.d; c += 32) acc = fmaf(o[c], g[c], acc);
  acc = warp_sum(acc);
  if (lane == 0) delta[w] = acc;
}

// dQ_i = scale sum_j P_ij (dP_ij - delta_i) K_j, P_ij = exp(s_ij - lse_i), dP_ij = dO_i . V_j.
__global__ void attention_dq_kernel(AttentionShape s, const float* q, const float* k, const float* v, const float* mask,
                                    const float* gy, const float* lse, const float* delta, float* gq) {
  CXRL_DYNAMIC_SHARED(float, sm);
  const int ts = s.d + 1;
  float *Ks = sm, *Vs = Ks + kTile * ts, *Qs = Vs + kTile * ts, *Gs = Qs + kRowsPerBlock * s.d,
        *DS = Gs + kRowsPerBlock * s.d;
  const int b = blockIdx.y / s.H, h = blockIdx.y % s.H, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row0 = (int64_t)blockIdx.x * kRowsPerBlock;
  const float scale = rsqrtf((float)s.d);
  load_rows(Qs, s.d, q, s, b, s.Lq, row0, kRowsPerBlock, h);
  load_rows(Gs, s.d, gy, s, b, s.Lq, row0, kRowsPerBlock, h);
  float L[kRowsPerWarp], D[kRowsPerWarp], acc[kRowsPerWarp][kMaxPerLane];
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t row = row0 + warp * kRowsPerWarp + r, idx = ((int64_t)b * s.H + h) * s.Lq + row;
    L[r] = row < s.Lq ? lse[idx] : -INFINITY;
    D[r] = row < s.Lq ? delta[idx] : 0.f;
    for (int t = 0; t < kMaxPerLane; ++t) acc[r][t] = 0.f;
  }
  float* DSw = DS + warp * kTile;
  for (int64_t j0 = 0; j0 < s.Lk; j0 += kTile) {
    __syncthreads();
    load_rows(Ks, ts, k, s, b, s.Lk, j0, kTile, h);
    load_rows(Vs, ts, v, s, b, s.Lk, j0, kTile, h);
    __syncthreads();
    const bool kept = key_kept(mask, b, s.Lk, j0 + lane);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      if (L[r] == -INFINITY) continue;
      const int lr = warp * kRowsPerWarp + r;
      float ds = 0.f;
      if (kept) {
        const float p = __expf(dot(Qs + lr * s.d, Ks + lane * ts, s.d) * scale - L[r]);
        ds = p * (dot(Gs + lr * s.d, Vs + lane * ts, s.d) - D[r]);
      }
      DSw[lane] = ds;
      __syncwarp();
      add_weighted_tile(acc[r], 1.f, DSw, Ks, ts, s.d);
      __syncwarp();
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t row = row0 + warp * kRowsPerWarp + r;
    if (row >= s.Lq) continue;
    store_row(gq + ((int64_t)b * s.Lq + row) * s.H * s.d + (int64_t)h * s.d, acc[r], scale, s.d);
  }
}

// Key-major: dV_j = sum_i P_ij dO_i, dK_j = scale sum_i P_ij (dP_ij - delta_i) Q_i.
__global__ void attention_dkv_kernel(AttentionShape s, const float* q, const float* k, const float* v,
                                     const float* mask, const float* gy, const float* lse, const float* delta,
                                     float* gk, float* gv) {
  CXRL_DYNAMIC_SHARED(float, sm);
  const int ts = s.d + 1;
  float *Qs = sm, *Gs = Qs + kTile * ts, *Ks = Gs + kTile * ts, *Vs = Ks + kRowsPerBlock * s.d,
        *Ls = Vs + kRowsPerBlock * s.d, *Ds = Ls + kTile, *PW = Ds + kTile;
  const int b = blockIdx.y / s.H, h = blockIdx.y % s.H, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t key0 = (int64_t)blockIdx.x * kRowsPerBlock;
  const float scale = rsqrtf((float)s.d);
  load_rows(Ks, s.d, k, s, b, s.Lk, key0, kRowsPerBlock, h);
  load_rows(Vs, s.d, v, s, b, s.Lk, key0, kRowsPerBlock, h);
  bool kept[kRowsPerWarp];
  float dk[kRowsPerWarp][kMaxPerLane], dv[kRowsPerWarp][kMaxPerLane];
  for (int r = 0; r < kRowsPerWarp; ++r) {
    kept[r] = key_kept(mask, b, s.Lk, key0 + warp * kRowsPerWarp + r);
    for (int t = 0; t < kMaxPerLane; ++t) dk[r][t] = dv[r][t] = 0.f;
  }
  float *Pw = PW + warp * 2 * kTile, *DSw = Pw + kTile;
  for (int64_t i0 = 0; i0 < s.Lq; i0 += kTile) {
    __syncthreads();
    load_rows(Qs, ts, q, s, b, s.Lq, i0, kTile, h);
    load_rows(Gs, ts, gy, s, b, s.Lq, i0, kTile, h);
    if (threadIdx.x < kTile) {
      const int64_t i = i0 + threadIdx.x, idx = ((int64_t)b * s.H + h) * s.Lq + i;
      Ls[threadIdx.x] = i < s.Lq ? lse[idx] : -INFINITY;
      Ds[threadIdx.x] = i < s.Lq ? delta[idx] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      if (!kept[r]) continue;
      const int lr = warp * kRowsPerWarp + r;
      float p = 0.f, ds = 0.f;
      if (Ls[lane] != -INFINITY) {
        p = __expf(dot(Qs + lane * ts, Ks + lr * s.d, s.d) * scale - Ls[lane]);
        ds = p * (dot(Gs + lane * ts, Vs + lr * s.d, s.d) - Ds[lane]);
      }
      Pw[lane] = p;
      DSw[lane] = ds;
      __syncwarp();
      add_weighted_tile(dv[r], 1.f, Pw, Gs, ts, s.d);
      add_weighted_tile(dk[r], 1.f, DSw, Qs, ts, s.d);
      __syncwarp();
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t j = key0 + warp * kRowsPerWarp + r;
    if (j >= s.Lk) continue;
    const int64_t off = ((int64_t)b * s.Lk + j) * s.H * s.d + (int64_t)h * s.d;
    store_row(gk + off, dk[r], scale, s.d);
    store_row(gv + off, dv[r], 1.f, s.d);
  }
}

}  // namespace
}  // namespace cxrl
