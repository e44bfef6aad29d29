#include "ops/attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/gemm.h"
#include "core/parallel.h"
#include "core/vec_math.h"
#include "ops/device_ops.h"

namespace cxrl {
namespace {

struct AttnDims {
  int B, Lq, Lk, H, d, HD;
};

AttnDims attn_dims(const Tensor& q, const Tensor& k, const Tensor& v, int heads) {
  if (q.ndim() != 3 || k.ndim() != 3 || v.shape != k.shape || q.dim(0) != k.dim(0) || q.dim(2) != k.dim(2))
    throw std::invalid_argument("attention: q " + shape_str(q.shape) + ", k " + shape_str(k.shape) + ", v " +
                                shape_str(v.shape) + " do not fit");
  if (heads <= 0 || q.dim(2) % heads) throw std::invalid_argument("attention: width not divisible by heads");
  return AttnDims{(int)q.dim(0), (int)q.dim(1), (int)k.dim(1), heads, (int)(q.dim(2) / heads), (int)q.dim(2)};
}

using GemmFn = void (*)(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*, int);

// Each (batch, head) pair is independent. Small maps: workers take pairs and use the
// single-threaded built-in GEMM (nested parallel_for runs inline, and OpenBLAS stays out of
// concurrent calls). Large maps: pairs run in turn, each GEMM and softmax threaded.
template <typename PairFn>
void for_each_pair(const AttnDims& a, const PairFn& fn) {
  const bool large = (int64_t)a.Lq * a.Lk >= (1 << 16);
  if (large) {
    for (int64_t p = 0; p < (int64_t)a.B * a.H; ++p) fn(p, &sgemm, true);
  } else {
    parallel_for((int64_t)a.B * a.H, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) fn(p, &sgemm_builtin, false);
    });
  }
}

// Rows [0, rows) of a row-major matrix, optionally in parallel.
template <typename RowFn>
void for_rows(int rows, bool parallel, const RowFn& fn) {
  if (parallel)
    parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) fn((int)i);
    });
  else
    for (int i = 0; i < rows; ++i) fn(i);
}

}  // namespace

// Softmax of one row of scores in place (masked keys get 0; a fully masked row attends to nothing).
static void softmax_row(float* row, int n, const float* mask) {
  if (!mask) return softmax_inplace(row, n);  // the vectorised kernel (self-attention's long rows)
  float mx = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < n; ++j)
    if (!mask || mask[j] != 0.f) mx = std::max(mx, row[j]);
  double sum = 0;
  for (int j = 0; j < n; ++j) {
    row[j] = (!mask || mask[j] != 0.f) ? std::exp(row[j] - mx) : 0.f;
    sum += row[j];
  }
  const float inv = sum > 0 ? (float)(1.0 / sum) : 0.f;
  for (int j = 0; j < n; ++j) row[j] *= inv;
}

Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const Tensor* key_mask,
                         AttentionCache* cache) {
  const AttnDims a = attn_dims(q, k, v, heads);
  if (q.on_device())
    return device_ops("attention_forward", q, {&k, &v, key_mask}).attention_forward(q, k, v, heads, key_mask, cache);
  const float scale = 1.f / std::sqrt((float)a.d);
  Tensor y = Tensor::uninitialized(q.shape);  // each (batch, head) pair writes its columns with a beta-0 GEMM
  // Queries go in blocks of kRows: with a cache (training), each block's probabilities land in the
  // full [B, H, Lq, Lk] matrix the backward needs; without one (inference) in a block-sized buffer,
  // so the full matrix never exists. Both run the same GEMM calls, so their outputs are identical.
  constexpr int kRows = 256;
  const Shape probs_shape{a.B, a.H, a.Lq, a.Lk};
  // The probabilities are fully overwritten below: keep the layer's buffer when the shape is the
  // same (at 32x32 tokens it is B*H*4 MiB, and a fresh one costs page faults and zeroing).
  if (cache && cache->probs.shape != probs_shape) cache->probs = Tensor(probs_shape);
  for_each_pair(a, [&](int64_t p, GemmFn gemm, bool parallel_rows) {
    const int b = (int)(p / a.H), h = (int)(p % a.H);
    const float* Q = q.data() + (size_t)b * a.Lq * a.HD + h * a.d;
    const float* K = k.data() + (size_t)b * a.Lk * a.HD + h * a.d;
    const float* V = v.data() + (size_t)b * a.Lk * a.HD + h * a.d;
    const float* mask = key_mask ? key_mask->data() + (size_t)b * a.Lk : nullptr;
    std::vector<float> block(cache ? 0 : (size_t)std::min(kRows, a.Lq) * a.Lk);
    for (int r0 = 0; r0 < a.Lq; r0 += kRows) {
      const int rows = std::min(kRows, a.Lq - r0);
      float* P = cache ? cache->probs.data() + ((size_t)p * a.Lq + r0) * a.Lk : block.data();
      gemm(false, true, rows, a.Lk, a.d, scale, Q + (size_t)r0 * a.HD, a.HD, K, a.HD, 0.f, P, a.Lk);
      for_rows(rows, parallel_rows, [&](int i) { softmax_row(P + (size_t)i * a.Lk, a.Lk, mask); });
      gemm(false, false, rows, a.d, a.Lk, 1.f, P, a.Lk, V, a.HD, 0.f,
           y.data() + ((size_t)b * a.Lq + r0) * a.HD + h * a.d, a.HD);
    }
  });
  return y;
}

// dP = dY V^T; dV = P^T dY; dS = P * (dP - rowsum(dP * P)); dQ = scale dS K; dK = scale dS^T Q.
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const AttentionCache& cache,
                        const Tensor& gy, Tensor* gq, Tensor* gk, Tensor* gv) {
  const AttnDims a = attn_dims(q, k, v, heads);
  if (q.on_device())
    return device_ops("attention_backward", q, {&k, &v, &gy}).attention_backward(q, k, v, heads, cache, gy, gq, gk, gv);
  const float scale = 1.f / std::sqrt((float)a.d);
  *gq = Tensor(q.shape);
  *gk = Tensor(k.shape);
  *gv = Tensor(v.shape);
  for_each_pair(a, [&](int64_t p, GemmFn gemm, bool parallel_rows) {
    // Per-thread scratch; take its address here: a lambda run on a worker thread would name that
    // worker's own (empty) thread_local instead.
    thread_local std::vector<float> dS_storage;
    dS_storage.resize((size_t)a.Lq * a.Lk);
    float* const dS = dS_storage.data();
    const int b = (int)(p / a.H), h = (int)(p % a.H);
    const size_t qoff = (size_t)b * a.Lq * a.HD + h * a.d, koff = (size_t)b * a.Lk * a.HD + h * a.d;
    const float* P = cache.probs.data() + (size_t)p * a.Lq * a.Lk;
    const float* dY = gy.data() + qoff;
    gemm(false, true, a.Lq, a.Lk, a.d, 1.f, dY, a.HD, v.data() + koff, a.HD, 0.f, dS, a.Lk);
    gemm(true, false, a.Lk, a.d, a.Lq, 1.f, P, a.Lk, dY, a.HD, 0.f, gv->data() + koff, a.HD);
    for_rows(a.Lq, parallel_rows, [&](int i) {
      float* ds = dS + (size_t)i * a.Lk;
      const float* pr = P + (size_t)i * a.Lk;
      double dot = 0;
      for (int j = 0; j < a.Lk; ++j) dot += (double)ds[j] * pr[j];
      for (int j = 0; j < a.Lk; ++j) ds[j] = pr[j] * (ds[j] - (float)dot);
    });
    gemm(false, false, a.Lq, a.d, a.Lk, scale, dS, a.Lk, k.data() + koff, a.HD, 0.f, gq->data() + qoff, a.HD);
    gemm(true, false, a.Lk, a.d, a.Lq, scale, dS, a.Lk, q.data() + qoff, a.HD, 0.f, gk->data() + koff, a.HD);
  });
}

}  // namespace cxrl
