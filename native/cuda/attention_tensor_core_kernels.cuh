// Tensor-core flash attention (attention_tensor_core.h): the kernels, included by
// attention_tensor_core.cu, which launches them, and by a CPU test that runs them on an emulated
// GPU (native/tests/test_emulated_attention_tc.cc, tests/cuda_emulation.h).
//
// A block of 4 warps owns 64 rows (queries; keys in the dK/dV kernel), 16 per warp, and walks the
// other side in tiles of 64. Every product is a warp-level WMMA over bf16 operands in shared memory
// with fp32 accumulation:
//   forward   S = Q K^T; online softmax -> P (bf16); O = corr O + P V     (O kept fp32 in smem)
//   dQ        S = Q K^T, dP = dO V^T; dS = P (dP - delta) (bf16); dQ += dS K
//   dK, dV    S^T = K Q^T, dP^T = V dO^T; dV += P^T dO; dK += dS^T Q
// The operands are staged once per call (to_head_major_bf16): q, k, v and dO rounded to bf16 in a
// head-major layout [B, H, rows, dp], head dims padded with zeros to a multiple of 16 (SD's 40 -> 48)
// and rows to a multiple of 64, so every tile a block loads is one contiguous run of 16-byte
// vectors, without bounds checks or conversion in the loops. Tiles arrive by asynchronous copies
// (cp.async) into two buffers where shared memory allows (TilePipeline): tile t + 1 is in flight
// while tile t is multiplied. Rows of shared tiles are padded (8 bf16, 4 floats) against bank
// conflicts; every WMMA pointer stays 32-byte aligned. The softmax of a warp's 16 x 64 tile runs
// two lanes per row, 32 columns each. No atomics: the backward is deterministic, as the fp32
// kernels are.
#pragma once
#ifndef CXRL_CUDA_EMULATION  // the emulation test provides these names itself
#include <cuda_bf16.h>
#include <cuda_pipeline.h>
#include <mma.h>
#endif

#include <cmath>

#include "cuda/elementwise.cuh"
#include "cuda/ops.h"
#include "cuda/shared_memory.cuh"

namespace cxrl {
namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int kWarps = 4, kWarpRows = 16, kBlockRows = kWarps * kWarpRows, kTile = 64;
constexpr int kHalfPad = 8, kFloatPad = 4;
constexpr int kTileLdF = kTile + kFloatPad, kTileLdH = kTile + kHalfPad;  // strides of [rows][64] tiles

__host__ __device__ constexpr int padded_dim(int d) { return (d + 15) / 16 * 16; }
// Blocks along x for `rows` rows (queries; keys in dK/dV) of one (batch, head): kWarps * 32 threads each.
inline unsigned row_blocks(int64_t rows) { return (unsigned)((rows + kBlockRows - 1) / kBlockRows); }

// Shared-memory carving: consecutive buffers, each a multiple of 128 bytes long.
struct Carve {
  unsigned char* p;
  template <typename T>
  __device__ T* take(int rows, int ld) {
    T* out = reinterpret_cast<T*>(p);
    p += (size_t)rows * ld * sizeof(T);
    return out;
  }
};
template <typename T>
constexpr size_t bytes(int rows, int ld) {
  return (size_t)rows * ld * sizeof(T);
}

__device__ bool key_kept(const float* mask, int b, int64_t Lk, int64_t j) {
  return j < Lk && (!mask || mask[(int64_t)b * Lk + j] != 0.f);
}

static_assert(kBlockRows == kTile, "a block's own rows and the tiles it walks are padded alike");
// Rows of a staged operand: L rounded up to whole tiles.
__host__ __device__ constexpr int64_t padded_rows(int64_t L) { return (L + kTile - 1) / kTile * kTile; }

// Head h of a [B, L, H d] fp32 tensor -> staged [B, H, padded_rows(L), dp] bf16 (nearest even),
// zero past d and past L. On plane_grid(B H, padded_rows(L) dp): a plane per (batch entry, head),
// one thread per staged value.
__global__ void to_head_major_bf16(const float* t, AttentionShape s, int64_t L, bf16* staged) {
  const int dp = padded_dim(s.d), rows = (int)padded_rows(L);
  CXRL_FOR_EACH_PLANE(bh, (int64_t)s.B * s.H) {
    const int64_t b = bh / s.H, h = bh % s.H;
    const float* head = t + (b * L * s.H + h) * s.d;  // row r at head + r H d
    bf16* out = staged + bh * rows * dp;
    CXRL_PLANE_STRIDE(i, rows * dp) {
      const int r = i / dp, c = i - r * dp;
      out[i] = __float2bfloat16_rn(c < s.d && r < L ? head[(int64_t)r * s.H * s.d + c] : 0.f);
    }
  }
}

// The first staged row of (b, h) at row r0 (a multiple of 64) of an operand of L rows.
__device__ const bf16* staged_rows(const bf16* staged, const AttentionShape& s, int64_t L, int b, int h, int64_t r0) {
  return staged + (((int64_t)b * s.H + h) * padded_rows(L) + r0) * padded_dim(s.d);
}

// 64 staged rows of dp bf16 (contiguous) -> shared rows of stride ld: asynchronous 16-byte copies,
// landed by the caller's __pipeline_wait_prior.
__device__ void load_tile(bf16* dst, int ld, const bf16* src, int dp) {
  const int vectors = dp / 8;  // per row
  for (int i = threadIdx.x; i < kTile * vectors; i += blockDim.x) {
    const int r = i / vectors, c = i % vectors;
    __pipeline_memcpy_async(dst + r * ld + c * 8, src + (int64_t)r * dp + c * 8, 16);
  }
}

// The tiles a block walks, in Stages shared buffers (1 or 2). Before the loop, prologue() commits
// what the caller issued (its own rows) with, for 2 stages, tile 0. At the top of iteration t,
// after a block barrier (no warp still reads the buffer being refilled), advance() issues tile t + 1
// (2 stages) or tile t (1 stage) through issue(tile, buffer) and lands tile t's copies; the caller's
// next block barrier makes every thread's copies visible.
template <int Stages>
struct TilePipeline {
  static_assert(Stages == 1 || Stages == 2, "one or two buffers");
  __device__ static int buffer(int64_t t) { return Stages == 2 ? (int)(t & 1) : 0; }
  template <typename Issue>
  __device__ static void prologue(Issue issue) {
    if (Stages == 2) issue(0, 0);
    __pipeline_commit();
  }
  template <typename Issue>
  __device__ static void advance(int64_t t, int64_t tiles, Issue issue) {
    if (Stages == 1) issue(t, 0);
    if (Stages == 2 && t + 1 < tiles) issue(t + 1, buffer(t + 1));
    __pipeline_commit();
    __pipeline_wait_prior(Stages - 1);
  }
};

// Two buffers when their shared memory fits the device's per-block limit, else one.
inline int pipeline_stages(size_t (*smem_size)(int dp, int stages), int dp, size_t smem_limit) {
  return smem_size(dp, 2) <= smem_limit ? 2 : 1;
}

// One warp: C[16 x 64] (fp32, stride lc) = A[16 x dp] B^T, A and B [64 x dp] bf16 row-major.
__device__ void warp_a_bt(float* C, int lc, const bf16* A, int la, const bf16* B, int lb, int dp) {
#pragma unroll
  for (int n = 0; n < kTile; n += 16) {
    FragC c;
    wmma::fill_fragment(c, 0.f);
    for (int k = 0; k < dp; k += 16) {
      FragA a;
      FragBCol bt;  // B^T's (k, n) block: B rows n.., columns k.., read column-major
      wmma::load_matrix_sync(a, A + k, la);
      wmma::load_matrix_sync(bt, B + n * lb + k, lb);
      wmma::mma_sync(c, a, bt, c);
    }
    wmma::store_matrix_sync(C + n, c, lc, wmma::mem_row_major);
  }
}

// One warp: C[16 x dp] (fp32 in smem, stride lc) += A[16 x 64] B, A bf16, B [64 x dp] bf16 row-major.
__device__ void warp_add_a_b(float* C, int lc, const bf16* A, int la, const bf16* B, int lb, int dp) {
  for (int n = 0; n < dp; n += 16) {
    FragC c;
    wmma::load_matrix_sync(c, C + n, lc, wmma::mem_row_major);
#pragma unroll
    for (int k = 0; k < kTile; k += 16) {
      FragA a;
      FragBRow bm;
      wmma::load_matrix_sync(a, A + k, la);
      wmma::load_matrix_sync(bm, B + k * lb + n, lb);
      wmma::mma_sync(c, a, bm, c);
    }
    wmma::store_matrix_sync(C + n, c, lc, wmma::mem_row_major);
  }
}

// Zeroes a block's [64][ld] fp32 buffer.
__device__ void zero_rows(float* p, int ld) {
  for (int i = threadIdx.x; i < kBlockRows * ld; i += blockDim.x) p[i] = 0.f;
}

// A warp's 16 rows of an fp32 [16][ld] buffer, columns < d, times scale -> head h of rows
// row0 + r (< L) of a [B, L, H d] tensor. Two lanes per row, alternating columns.
__device__ void store_warp_rows(float* dst, const float* src, int ld, float scale_row, const AttentionShape& s, int b,
                                int64_t L, int64_t row, int h) {
  const int lane = threadIdx.x % 32, r = lane >> 1;
  if (row >= L) return;
  float* o = dst + ((int64_t)b * L + row) * s.H * s.d + (int64_t)h * s.d;
  for (int c = lane & 1; c < s.d; c += 2) o[c] = src[r * ld + c] * scale_row;
}

struct ForwardSmem {
  static size_t size(int dp, int stages) {
    return (1 + 2 * stages) * bytes<bf16>(kBlockRows, dp + kHalfPad) + bytes<float>(kBlockRows, kTileLdF) +
           bytes<bf16>(kBlockRows, kTileLdH) + bytes<float>(kBlockRows, dp + kFloatPad);
  }
};

template <int Stages>
__global__ void __launch_bounds__(kWarps * 32)
    attention_forward_tc_kernel(AttentionShape s, const bf16* q, const bf16* k, const bf16* v, const float* mask,
                                float* out, float* lse) {
  using Pipeline = TilePipeline<Stages>;
  CXRL_DYNAMIC_SHARED(unsigned char, smem);
  const int dp = padded_dim(s.d), lh = dp + kHalfPad, lf = dp + kFloatPad;
  Carve carve{smem};
  // Tile buffer i of Ks, Vs starts at i * kTile * lh (pointer arithmetic, not an array of pointers:
  // a dynamically indexed array would live in local memory).
  bf16 *Qs = carve.take<bf16>(kBlockRows, lh), *Ks = carve.take<bf16>(Stages * kTile, lh),
       *Vs = carve.take<bf16>(Stages * kTile, lh);
  float* S = carve.take<float>(kBlockRows, kTileLdF);
  bf16* P = carve.take<bf16>(kBlockRows, kTileLdH);
  float* O = carve.take<float>(kBlockRows, lf);
  const int b = blockIdx.y / s.H, h = blockIdx.y % s.H, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = lane >> 1, c0 = (lane & 1) * 32;  // this lane's row of the warp's tile, and columns
  const int64_t row0 = (int64_t)blockIdx.x * kBlockRows, row = row0 + warp * kWarpRows + r;
  const float scale = rsqrtf((float)s.d);
  const int64_t tiles = padded_rows(s.Lk) / kTile;
  const auto issue = [&](int64_t t, int buf) {
    load_tile(Ks + buf * kTile * lh, lh, staged_rows(k, s, s.Lk, b, h, t * kTile), dp);
    load_tile(Vs + buf * kTile * lh, lh, staged_rows(v, s, s.Lk, b, h, t * kTile), dp);
  };
  load_tile(Qs, lh, staged_rows(q, s, s.Lq, b, h, row0), dp);
  Pipeline::prologue(issue);
  zero_rows(O, lf);
  const bf16* Qw = Qs + warp * kWarpRows * lh;
  float *Sw = S + warp * kWarpRows * kTileLdF, *Ow = O + warp * kWarpRows * lf;
  bf16* Pw = P + warp * kWarpRows * kTileLdH;
  float m = -INFINITY, l = 0.f;  // the row's running max and sum (both lanes of a row hold them)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t j0 = t * kTile;
    const bf16 *Kt = Ks + Pipeline::buffer(t) * kTile * lh, *Vt = Vs + Pipeline::buffer(t) * kTile * lh;
    __syncthreads();
    Pipeline::advance(t, tiles, issue);
    __syncthreads();
    warp_a_bt(Sw, kTileLdF, Qw, lh, Kt, lh, dp);
    __syncwarp();
    float* sr = Sw + r * kTileLdF;
    float mx = -INFINITY;
    for (int c = c0; c < c0 + 32; ++c) {
      const float x = key_kept(mask, b, s.Lk, j0 + c) ? sr[c] * scale : -INFINITY;
      sr[c] = x;
      mx = fmaxf(mx, x);
    }
    const float m_new = fmaxf(m, fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1)));
    float sum = 0.f;
    for (int c = c0; c < c0 + 32; ++c) {
      const float p = m_new == -INFINITY ? 0.f : __expf(sr[c] - m_new);
      Pw[r * kTileLdH + c] = __float2bfloat16_rn(p);
      sum += p;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    const float corr = m_new == -INFINITY ? 1.f : __expf(m - m_new);  // 0 for the first kept key
    l = l * corr + sum;
    m = m_new;
    for (int c = (lane & 1) * (dp / 2); c < (lane & 1 ? dp : dp / 2); ++c) Ow[r * lf + c] *= corr;
    __syncwarp();
    warp_add_a_b(Ow, lf, Pw, kTileLdH, Vt, lh, dp);
    __syncwarp();
  }
  store_warp_rows(out, Ow, lf, l > 0.f ? 1.f / l : 0.f, s, b, s.Lq, row, h);  // fully masked: output 0
  if ((lane & 1) == 0 && row < s.Lq) lse[((int64_t)b * s.H + h) * s.Lq + row] = l > 0.f ? m + logf(l) : -INFINITY;
}

struct DqSmem {
  static size_t size(int dp, int stages) {
    return (2 + 2 * stages) * bytes<bf16>(kBlockRows, dp + kHalfPad) + 2 * bytes<float>(kBlockRows, kTileLdF) +
           bytes<bf16>(kBlockRows, kTileLdH) + bytes<float>(kBlockRows, dp + kFloatPad);
  }
};

// Query-major: dQ_i = scale sum_j P_ij (dP_ij - delta_i) K_j.
template <int Stages>
__global__ void __launch_bounds__(kWarps * 32)
    attention_dq_tc_kernel(AttentionShape s, const bf16* q, const bf16* k, const bf16* v, const float* mask,
                           const bf16* gy, const float* lse, const float* delta, float* gq) {
  using Pipeline = TilePipeline<Stages>;
  CXRL_DYNAMIC_SHARED(unsigned char, smem);
  const int dp = padded_dim(s.d), lh = dp + kHalfPad, lf = dp + kFloatPad;
  Carve carve{smem};
  bf16 *Qs = carve.take<bf16>(kBlockRows, lh), *Gs = carve.take<bf16>(kBlockRows, lh),
       *Ks = carve.take<bf16>(Stages * kTile, lh), *Vs = carve.take<bf16>(Stages * kTile, lh);
  float *S = carve.take<float>(kBlockRows, kTileLdF), *DP = carve.take<float>(kBlockRows, kTileLdF);
  bf16* DS = carve.take<bf16>(kBlockRows, kTileLdH);
  float* DQ = carve.take<float>(kBlockRows, lf);
  const int b = blockIdx.y / s.H, h = blockIdx.y % s.H, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = lane >> 1, c0 = (lane & 1) * 32;
  const int64_t row0 = (int64_t)blockIdx.x * kBlockRows, row = row0 + warp * kWarpRows + r;
  const int64_t idx = ((int64_t)b * s.H + h) * s.Lq + row;
  const float L = row < s.Lq ? lse[idx] : -INFINITY, D = row < s.Lq ? delta[idx] : 0.f;
  const float scale = rsqrtf((float)s.d);
  const int64_t tiles = padded_rows(s.Lk) / kTile;
  const auto issue = [&](int64_t t, int buf) {
    load_tile(Ks + buf * kTile * lh, lh, staged_rows(k, s, s.Lk, b, h, t * kTile), dp);
    load_tile(Vs + buf * kTile * lh, lh, staged_rows(v, s, s.Lk, b, h, t * kTile), dp);
  };
  load_tile(Qs, lh, staged_rows(q, s, s.Lq, b, h, row0), dp);
  load_tile(Gs, lh, staged_rows(gy, s, s.Lq, b, h, row0), dp);
  Pipeline::prologue(issue);
  zero_rows(DQ, lf);
  const int wo = warp * kWarpRows;
  float *Sw = S + wo * kTileLdF, *DPw = DP + wo * kTileLdF, *DQw = DQ + wo * lf;
  bf16* DSw = DS + wo * kTileLdH;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t j0 = t * kTile;
    const bf16 *Kt = Ks + Pipeline::buffer(t) * kTile * lh, *Vt = Vs + Pipeline::buffer(t) * kTile * lh;
    __syncthreads();
    Pipeline::advance(t, tiles, issue);
    __syncthreads();
    warp_a_bt(Sw, kTileLdF, Qs + wo * lh, lh, Kt, lh, dp);
    warp_a_bt(DPw, kTileLdF, Gs + wo * lh, lh, Vt, lh, dp);
    __syncwarp();
    for (int c = c0; c < c0 + 32; ++c) {
      float ds = 0.f;
      if (L != -INFINITY && key_kept(mask, b, s.Lk, j0 + c)) {
        const float p = __expf(Sw[r * kTileLdF + c] * scale - L);
        ds = p * (DPw[r * kTileLdF + c] - D);
      }
      DSw[r * kTileLdH + c] = __float2bfloat16_rn(ds);
    }
    __syncwarp();
    warp_add_a_b(DQw, lf, DSw, kTileLdH, Kt, lh, dp);
    __syncwarp();
  }
  store_warp_rows(gq, DQw, lf, scale, s, b, s.Lq, row, h);
}

struct DkvSmem {
  static size_t size(int dp, int stages) {
    return (2 + 2 * stages) * bytes<bf16>(kBlockRows, dp + kHalfPad) + 2 * bytes<float>(kBlockRows, kTileLdF) +
           bytes<bf16>(kBlockRows, kTileLdH) + 2 * bytes<float>(kBlockRows, dp + kFloatPad) +
           2 * stages * bytes<float>(1, kTile);
  }
};

// Key-major: dV_j = sum_i P_ij dO_i, dK_j = scale sum_i P_ij (dP_ij - delta_i) Q_i.
template <int Stages>
__global__ void __launch_bounds__(kWarps * 32)
    attention_dkv_tc_kernel(AttentionShape s, const bf16* q, const bf16* k, const bf16* v, const float* mask,
                            const bf16* gy, const float* lse, const float* delta, float* gk, float* gv) {
  using Pipeline = TilePipeline<Stages>;
  CXRL_DYNAMIC_SHARED(unsigned char, smem);
  const int dp = padded_dim(s.d), lh = dp + kHalfPad, lf = dp + kFloatPad;
  Carve carve{smem};
  bf16 *Ks = carve.take<bf16>(kBlockRows, lh), *Vs = carve.take<bf16>(kBlockRows, lh),
       *Qs = carve.take<bf16>(Stages * kTile, lh), *Gs = carve.take<bf16>(Stages * kTile, lh);
  float *ST = carve.take<float>(kBlockRows, kTileLdF), *DPT = carve.take<float>(kBlockRows, kTileLdF);
  bf16* XT = carve.take<bf16>(kBlockRows, kTileLdH);  // P^T, then dS^T, as bf16 operands
  float *DK = carve.take<float>(kBlockRows, lf), *DV = carve.take<float>(kBlockRows, lf);
  // Each query's log-sum-exp and delta, for the tile (buffer i at i * kTile).
  float *Ls = carve.take<float>(Stages, kTile), *Ds = carve.take<float>(Stages, kTile);
  const int b = blockIdx.y / s.H, h = blockIdx.y % s.H, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = lane >> 1, c0 = (lane & 1) * 32;
  const int64_t key0 = (int64_t)blockIdx.x * kBlockRows, key = key0 + warp * kWarpRows + r;
  const bool kept = key_kept(mask, b, s.Lk, key);
  const float scale = rsqrtf((float)s.d);
  const int64_t tiles = padded_rows(s.Lq) / kTile;
  // A query tile: q and dO by asynchronous copies, the log-sum-exp and delta by plain stores (seen
  // after the same block barrier).
  const auto issue = [&](int64_t t, int buf) {
    load_tile(Qs + buf * kTile * lh, lh, staged_rows(q, s, s.Lq, b, h, t * kTile), dp);
    load_tile(Gs + buf * kTile * lh, lh, staged_rows(gy, s, s.Lq, b, h, t * kTile), dp);
    if (threadIdx.x < kTile) {
      const int64_t i = t * kTile + threadIdx.x, idx = ((int64_t)b * s.H + h) * s.Lq + i;
      Ls[buf * kTile + threadIdx.x] = i < s.Lq ? lse[idx] : -INFINITY;
      Ds[buf * kTile + threadIdx.x] = i < s.Lq ? delta[idx] : 0.f;
    }
  };
  load_tile(Ks, lh, staged_rows(k, s, s.Lk, b, h, key0), dp);
  load_tile(Vs, lh, staged_rows(v, s, s.Lk, b, h, key0), dp);
  Pipeline::prologue(issue);
  zero_rows(DK, lf);
  zero_rows(DV, lf);
  const int wo = warp * kWarpRows;
  float *STw = ST + wo * kTileLdF, *DPTw = DPT + wo * kTileLdF, *DKw = DK + wo * lf, *DVw = DV + wo * lf;
  bf16* XTw = XT + wo * kTileLdH;
  for (int64_t t = 0; t < tiles; ++t) {
    const int buf = Pipeline::buffer(t);
    const bf16 *Qt = Qs + buf * kTile * lh, *Gt = Gs + buf * kTile * lh;
    const float *Lt = Ls + buf * kTile, *Dt = Ds + buf * kTile;
    __syncthreads();
    Pipeline::advance(t, tiles, issue);
    __syncthreads();
    warp_a_bt(STw, kTileLdF, Ks + wo * lh, lh, Qt, lh, dp);
    warp_a_bt(DPTw, kTileLdF, Vs + wo * lh, lh, Gt, lh, dp);
    __syncwarp();
    for (int c = c0; c < c0 + 32; ++c) {  // c: the query of the tile
      float p = 0.f;
      if (kept && Lt[c] != -INFINITY) p = __expf(STw[r * kTileLdF + c] * scale - Lt[c]);
      DPTw[r * kTileLdF + c] = p * (DPTw[r * kTileLdF + c] - Dt[c]);  // dS^T, fp32
      XTw[r * kTileLdH + c] = __float2bfloat16_rn(p);
    }
    __syncwarp();
    warp_add_a_b(DVw, lf, XTw, kTileLdH, Gt, lh, dp);
    __syncwarp();
    for (int c = c0; c < c0 + 32; ++c) XTw[r * kTileLdH + c] = __float2bfloat16_rn(DPTw[r * kTileLdF + c]);
    __syncwarp();
    warp_add_a_b(DKw, lf, XTw, kTileLdH, Qt, lh, dp);
    __syncwarp();
  }
  store_warp_rows(gk, DKw, lf, scale, s, b, s.Lk, key, h);
  store_warp_rows(gv, DVw, lf, 1.f, s, b, s.Lk, key, h);
}

}  // namespace
}  // namespace cxrl
