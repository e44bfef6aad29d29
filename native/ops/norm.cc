#include "ops/norm.h"

#include <cmath>

#include "core/parallel.h"
#include "core/vec_math.h"
#include "ops/device_ops.h"

namespace cxrl {
namespace {

// Shared core. The tensor is viewed as R rows of `len` elements; element j of row r has the affine
// channel channel_of(r, j). For GroupNorm a row is one (batch, group) with channels contiguous in
// runs of `spatial`; for LayerNorm a row is one token and the channel is j.
struct RowLayout {
  int64_t rows, len, spatial;  // spatial = 1 for LayerNorm
  int64_t chan_per_row;        // channels in one row
  int64_t groups;              // rows per batch item (GroupNorm) or 1
  // Calls fn(c, j0, j1) for each run [j0, j1) of row r whose elements share affine channel c
  // (GroupNorm: one run per channel of the group; LayerNorm: one element per channel), so the
  // inner loops carry no index arithmetic.
  template <typename Fn>
  void for_channel_runs(int64_t r, const Fn& fn) const {
    const int64_t c0 = (r % groups) * chan_per_row;
    for (int64_t cc = 0; cc < chan_per_row; ++cc) fn(c0 + cc, cc * spatial, (cc + 1) * spatial);
  }
};

// With silu, y = silu(normalised) and the normalised values go to *pre (when not null).
Tensor norm_forward(const Tensor& x, const RowLayout& L, const Tensor& gamma, const Tensor& beta, float eps,
                    NormStats* st, bool silu = false, Tensor* pre = nullptr) {
  Tensor y = Tensor::uninitialized(x.shape);  // every row covered by its channel runs
  if (pre) *pre = Tensor::uninitialized(x.shape);
  st->mean = Tensor::uninitialized({L.rows});  // every row written below
  st->rstd = Tensor::uninitialized({L.rows});
  parallel_for(L.rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x.data() + r * L.len;
      const double mu = row_sum(xr, L.len) / L.len;
      const double s2 = row_sum_sq_dev(xr, L.len, mu);  // two passes: the variance about the mean
      const float rstd = (float)(1.0 / std::sqrt(s2 / L.len + eps));
      st->mean.v[r] = (float)mu;
      st->rstd.v[r] = rstd;
      float* yr = y.data() + r * L.len;
      float* nr = pre ? pre->data() + r * L.len : yr;  // where the normalised row goes
      const float muf = (float)mu;
      if (L.spatial == 1) {  // LayerNorm: element j is channel j
        layer_affine_normalize(xr, nr, L.len, muf, rstd, gamma.data(), beta.data());
      } else {
        L.for_channel_runs(r, [&](int64_t c, int64_t j0, int64_t j1) {
          affine_normalize(xr + j0, nr + j0, j1 - j0, muf, rstd, gamma.v[c], beta.v[c]);
        });
      }
      if (silu) silu_rows(nr, yr, L.len);
    }
  });
  return y;
}

// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = gy * gamma.
void norm_backward(const Tensor& x, const RowLayout& L, const Tensor& gamma, const NormStats& st, const Tensor& gy,
                   Tensor* gx, Tensor* ggamma, Tensor* gbeta) {
  if (gx) *gx = Tensor::uninitialized(x.shape);  // every row covered below
  const int64_t C = gamma.numel();
  const bool per_element = L.spatial == 1;  // LayerNorm: element j of a row is channel j
  // partial[0..C) accumulates d gamma, partial[C..2C) d beta; summed in chunk order.
  const std::vector<double> sums =
      parallel_reduce(L.rows, 1, 2 * C, [&](int64_t r0, int64_t r1, std::vector<double>& partial) {
        double* dg = partial.data();
        double* db = partial.data() + C;
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x.data() + r * L.len;
          const float* gr = gy.data() + r * L.len;
          const float mu = st.mean.v[r], rstd = st.rstd.v[r];
          double m[2] = {0, 0};  // sum dxhat, sum dxhat * xhat over the row
          if (per_element) {
            layer_norm_grad_sums(xr, gr, gamma.data(), L.len, mu, rstd, dg, db, m);
          } else {
            L.for_channel_runs(r, [&](int64_t c, int64_t j0, int64_t j1) {
              double run[2] = {0, 0};
              norm_grad_sums(xr + j0, gr + j0, j1 - j0, mu, rstd, run);
              db[c] += run[0];
              dg[c] += run[1];
              m[0] += run[0] * gamma.v[c];
              m[1] += run[1] * gamma.v[c];
            });
          }
          if (!gx) continue;
          const float m1 = (float)(m[0] / L.len), m2 = (float)(m[1] / L.len);
          float* gxr = gx->data() + r * L.len;
          if (per_element) {
            layer_norm_input_grad(xr, gr, gamma.data(), gxr, L.len, mu, rstd, m1, m2);
          } else {
            L.for_channel_runs(r, [&](int64_t c, int64_t j0, int64_t j1) {
              norm_input_grad(xr + j0, gr + j0, gxr + j0, j1 - j0, mu, rstd, gamma.v[c], m1, m2);
            });
          }
        }
      });
  for (int64_t c = 0; c < C; ++c) {
    if (ggamma) ggamma->v[c] += (float)sums[c];
    if (gbeta) gbeta->v[c] += (float)sums[C + c];
  }
}

RowLayout group_layout(const Tensor& x, int groups, const Tensor& gamma) {
  if (x.ndim() < 2) throw std::invalid_argument("group_norm: input needs [B,C,...], got " + shape_str(x.shape));
  const int64_t B = x.dim(0), C = x.dim(1);
  if (groups <= 0 || C % groups != 0)
    throw std::invalid_argument("group_norm: " + std::to_string(C) + " channels not divisible into " +
                                std::to_string(groups) + " groups");
  if (gamma.numel() != C) throw std::invalid_argument("group_norm: gamma size differs from channels");
  const int64_t spatial = x.numel() / (B * C);
  return RowLayout{B * groups, C / groups * spatial, spatial, C / groups, groups};
}

RowLayout layer_layout(const Tensor& x, const Tensor& gamma) {
  const int64_t D = x.dim(-1);
  if (gamma.numel() != D) throw std::invalid_argument("layer_norm: gamma size differs from last dim");
  return RowLayout{x.numel() / D, D, 1, D, 1};
}

}  // namespace

Tensor group_norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                          NormStats* stats) {
  const RowLayout L = group_layout(x, groups, gamma);
  if (x.on_device())
    return device_ops("group_norm", x, {&gamma, &beta})
        .norm_forward(x, groups, gamma, beta, eps, stats, false, nullptr);
  return norm_forward(x, L, gamma, beta, eps, stats);
}

Tensor group_norm_silu_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                               NormStats* stats, Tensor* pre_activation) {
  const RowLayout L = group_layout(x, groups, gamma);
  if (x.on_device())
    return device_ops("group_norm_silu", x, {&gamma, &beta})
        .norm_forward(x, groups, gamma, beta, eps, stats, true, pre_activation);
  return norm_forward(x, L, gamma, beta, eps, stats, true, pre_activation);
}

void group_norm_backward(const Tensor& x, int groups, const Tensor& gamma, const NormStats& stats, const Tensor& gy,
                         Tensor* gx, Tensor* ggamma, Tensor* gbeta) {
  const RowLayout L = group_layout(x, groups, gamma);
  if (x.on_device())
    return device_ops("group_norm_backward", x, {&gamma, &gy, ggamma, gbeta})
        .norm_backward(x, groups, gamma, stats, gy, gx, ggamma, gbeta);
  norm_backward(x, L, gamma, stats, gy, gx, ggamma, gbeta);
}

Tensor layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, NormStats* stats) {
  const RowLayout L = layer_layout(x, gamma);
  if (x.on_device())
    return device_ops("layer_norm", x, {&gamma, &beta}).norm_forward(x, 0, gamma, beta, eps, stats, false, nullptr);
  return norm_forward(x, L, gamma, beta, eps, stats);
}

void layer_norm_backward(const Tensor& x, const Tensor& gamma, const NormStats& stats, const Tensor& gy, Tensor* gx,
                         Tensor* ggamma, Tensor* gbeta) {
  const RowLayout L = layer_layout(x, gamma);
  if (x.on_device())
    return device_ops("layer_norm_backward", x, {&gamma, &gy, ggamma, gbeta})
        .norm_backward(x, 0, gamma, stats, gy, gx, ggamma, gbeta);
  norm_backward(x, L, gamma, stats, gy, gx, ggamma, gbeta);
}

}  // namespace cxrl
