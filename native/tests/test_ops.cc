// Finite-difference checks of every op's backward on random shapes and inputs.
#include <array>
#include <cmath>
#include <limits>

#include "core/vec_math.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/conv2d.h"
#include "ops/conv2d_direct.h"
#include "ops/embedding.h"
#include "ops/linear.h"
#include "ops/lookup.h"
#include "ops/mse_loss.h"
#include "ops/norm.h"
#include "ops/shape_ops.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;
using Inputs = std::vector<Tensor>;

// Float64 reference of GroupNorm (LayerNorm is rows = tokens, groups = 1, spatial = 1): x viewed as
// [rows, len]; element j of row r has channel (r % groups) * (len / spatial) + j / spatial.
static std::vector<double> norm_reference(const Values& in, int64_t rows, int64_t len, int64_t groups,
                                          int64_t spatial) {
  const std::vector<double>&x = in[0], &gamma = in[1], &beta = in[2];
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mu = 0, var = 0;
    for (int64_t j = 0; j < len; ++j) mu += x[r * len + j] / len;
    for (int64_t j = 0; j < len; ++j) var += (x[r * len + j] - mu) * (x[r * len + j] - mu) / len;
    for (int64_t j = 0; j < len; ++j) {
      const int64_t c = (r % groups) * (len / spatial) + j / spatial;
      y[r * len + j] = (x[r * len + j] - mu) / std::sqrt(var + 1e-5) * gamma[c] + beta[c];
    }
  }
  return y;
}

TEST(conv2d_backward_fd) {
  struct Geom {
    int k, stride, pad;
  };
  for (Geom g : {Geom{1, 1, 0}, Geom{3, 1, 1}, Geom{3, 2, 1}, Geom{5, 1, 2}, Geom{2, 2, 0}, Geom{3, 1, 0}}) {
    const int B = rand_int(1, 2), Cin = rand_int(1, 4), Cout = rand_int(1, 5), H = rand_int(g.k, 9),
              W = rand_int(g.k, 9);
    Conv2dGeom cg{g.stride, g.pad};
    fd_check(
        "conv2d k" + std::to_string(g.k) + " s" + std::to_string(g.stride) + " p" + std::to_string(g.pad) + " x" +
            shape_str({B, Cin, H, W}) + " out " + std::to_string(Cout),
        {randn({B, Cin, H, W}), randn({Cout, Cin, g.k, g.k}, 0.3f), randn({Cout})},
        [&](const Inputs& in) { return conv2d_forward(in[0], in[1], &in[2], cg); },
        [&](const Inputs& in, const Tensor& gy) {
          Tensor gx, gw(in[1].shape), gb(in[2].shape);
          conv2d_backward(in[0], in[1], gy, cg, &gx, &gw, &gb);
          return Inputs{gx, gw, gb};
        });
  }
}

TEST(conv2d_forward_matches_float64_loops) {
  // Every forward path against plain loops in double: conv2d_forward, the im2col + GEMM path
  // (contiguous copies clamped at the borders) for every case, and the direct kernel for every
  // instruction set this CPU runs. 9 images of 128 channels x 121 x 121 take two groups of
  // padded copies in the direct kernel; 256 channels x 241 x 241 at stride 2 take three bands of
  // output rows through im2col. The cases include images narrower than the kernel's reach, one
  // input channel, output channel counts that leave partial register tiles, and grids that end
  // mid-tile.
  struct Case {
    int k, stride, pad, H, W, B = 2, Cin = 3, Cout = 4;
  };
  double worst = 0;
  std::vector<double> worst_isa(direct_conv_isas().size(), 0.0);
  for (Case c :
       {Case{3, 1, 1, 6, 7}, Case{5, 1, 2, 4, 3}, Case{3, 1, 0, 5, 5}, Case{3, 2, 1, 7, 6}, Case{1, 1, 0, 3, 4},
        Case{5, 1, 4, 2, 2}, Case{3, 1, 1, 121, 121, 9, 128, 2}, Case{3, 2, 1, 241, 241, 1, 256, 2},
        Case{3, 1, 1, 8, 8, 3, 1, 9}, Case{3, 1, 1, 13, 11, 1, 17, 19}, Case{2, 1, 0, 9, 10, 1, 5, 3}}) {
    const int B = c.B, Cin = c.Cin, Cout = c.Cout;
    const Tensor x = randn({B, Cin, c.H, c.W}), w = randn({Cout, Cin, c.k, c.k}), b = randn({Cout});
    const int Ho = (c.H + 2 * c.pad - c.k) / c.stride + 1, Wo = (c.W + 2 * c.pad - c.k) / c.stride + 1;
    std::vector<double> ref((size_t)B * Cout * Ho * Wo);
    double ref_max = 0;
    for (int n = 0; n < B; ++n)
      for (int o = 0; o < Cout; ++o)
        for (int oy = 0; oy < Ho; ++oy)
          for (int ox = 0; ox < Wo; ++ox) {
            double acc = b.v[o];
            for (int ci = 0; ci < Cin; ++ci)
              for (int ky = 0; ky < c.k; ++ky)
                for (int kx = 0; kx < c.k; ++kx) {
                  const int iy = oy * c.stride - c.pad + ky, ix = ox * c.stride - c.pad + kx;
                  if (iy >= 0 && iy < c.H && ix >= 0 && ix < c.W)
                    acc += (double)w.v[((o * Cin + ci) * c.k + ky) * c.k + kx] *
                           x.v[((n * Cin + ci) * c.H + iy) * c.W + ix];
                }
            ref[((n * Cout + o) * Ho + oy) * Wo + ox] = acc;
            ref_max = std::max(ref_max, std::fabs(acc));
          }
    auto rel_err = [&](const Tensor& y) {
      CHECK(y.shape == (Shape{B, Cout, Ho, Wo}), "conv2d output shape");
      double e = 0;
      for (size_t i = 0; i < ref.size(); ++i) e = std::max(e, std::fabs(ref[i] - y.v[i]));
      return e / ref_max;
    };
    worst = std::max(worst, rel_err(conv2d_forward(x, w, &b, Conv2dGeom{c.stride, c.pad})));
    worst = std::max(worst, rel_err(conv2d_forward_im2col(x, w, &b, Conv2dGeom{c.stride, c.pad})));
    if (c.stride != 1) continue;
    for (size_t i = 0; i < direct_conv_isas().size(); ++i) {
      Tensor y({B, Cout, Ho, Wo});
      std::fill(y.v.begin(), y.v.end(), std::nanf(""));  // every element must be written
      conv2d_direct_forward(x, w, &b, c.pad, y, direct_conv_isas()[i]);
      worst_isa[i] = std::max(worst_isa[i], rel_err(y));
    }
  }
  std::printf("    conv2d forward vs float64 loops: max error / max |reference| %.2e\n", worst);
  CHECK(worst < 1e-5, "conv2d forward differs from the float64 reference");
  for (size_t i = 0; i < worst_isa.size(); ++i) {
    std::printf("    direct conv (%s) vs float64 loops: %.2e\n", direct_conv_isa_name(direct_conv_isas()[i]).c_str(),
                worst_isa[i]);
    CHECK(worst_isa[i] < 1e-5, "direct conv " + direct_conv_isa_name(direct_conv_isas()[i]) + " differs");
  }
}

TEST(conv2d_gradients_match_float64_loops) {
  // dx = sum_o sum_taps w[o, c, ky, kx] gy[o, (iy + pad - ky) / s, (ix + pad - kx) / s] and
  // dw = sum_n sum_positions gy[n, o, oy, ox] x[n, c, oy s - pad + ky, ox s - pad + kx], in double, at
  // sizes the finite-difference test does not reach: partial register tiles in both channel
  // directions, images whose padded grid ends mid-vector, the direct kernels (stride 1: dx by the
  // flipped kernel, dw for 3x3, each instruction set this CPU runs; 9 images of 128 x 121 x 121 take
  // two groups) and im2col + GEMM (stride 2, 5x5).
  struct Case {
    int k, stride, pad, H, W, Cin, Cout, B = 3;
  };
  double worst_dx = 0, worst_dw = 0;
  std::vector<double> worst_isa(direct_conv_isas().size(), 0.0);
  for (Case c : {Case{3, 1, 1, 13, 11, 17, 19}, Case{3, 1, 0, 9, 12, 5, 11}, Case{5, 1, 2, 10, 7, 9, 3},
                 Case{3, 2, 1, 12, 9, 6, 10}, Case{3, 1, 1, 8, 8, 3, 4}, Case{3, 1, 1, 121, 121, 128, 2, 9}}) {
    const int B = c.B, Ho = (c.H + 2 * c.pad - c.k) / c.stride + 1, Wo = (c.W + 2 * c.pad - c.k) / c.stride + 1;
    const Tensor x = randn({B, c.Cin, c.H, c.W}), w = randn({c.Cout, c.Cin, c.k, c.k}), gy = randn({B, c.Cout, Ho, Wo});
    Tensor gx, gw(w.shape);
    conv2d_backward(x, w, gy, Conv2dGeom{c.stride, c.pad}, &gx, &gw, nullptr);
    CHECK(gx.shape == x.shape, "conv2d input gradient shape");
    std::vector<double> ref_dx(x.v.size(), 0.0), ref_dw(w.v.size(), 0.0);
    for (int n = 0; n < B; ++n)
      for (int o = 0; o < c.Cout; ++o)
        for (int oy = 0; oy < Ho; ++oy)
          for (int ox = 0; ox < Wo; ++ox) {
            const double g = gy.v[((n * c.Cout + o) * Ho + oy) * Wo + ox];
            for (int ci = 0; ci < c.Cin; ++ci)
              for (int ky = 0; ky < c.k; ++ky)
                for (int kx = 0; kx < c.k; ++kx) {
                  const int iy = oy * c.stride - c.pad + ky, ix = ox * c.stride - c.pad + kx;
                  if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                  const size_t xi = ((size_t)(n * c.Cin + ci) * c.H + iy) * c.W + ix;
                  const size_t wi = ((size_t)(o * c.Cin + ci) * c.k + ky) * c.k + kx;
                  ref_dx[xi] += w.v[wi] * g;
                  ref_dw[wi] += x.v[xi] * g;
                }
          }
    auto rel_err = [](const std::vector<double>& ref, const Tensor& t) {
      double e = 0, m = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        e = std::max(e, std::fabs(ref[i] - t.v[i]));
        m = std::max(m, std::fabs(ref[i]));
      }
      return e / m;
    };
    worst_dx = std::max(worst_dx, rel_err(ref_dx, gx));
    worst_dw = std::max(worst_dw, rel_err(ref_dw, gw));
    if (c.stride != 1 || c.k != 3) continue;
    for (size_t i = 0; i < direct_conv_isas().size(); ++i) {
      Tensor gw_isa(w.shape);  // accumulates: starts from zero
      conv2d_direct_weight_grad(x, gy, c.pad, gw_isa, direct_conv_isas()[i]);
      worst_isa[i] = std::max(worst_isa[i], rel_err(ref_dw, gw_isa));
    }
  }
  std::printf("    conv2d gradients vs float64 loops (max error / max |reference|): dx %.2e, dw %.2e\n", worst_dx,
              worst_dw);
  CHECK(worst_dx < 1e-5, "conv2d input gradient differs from the float64 reference");
  CHECK(worst_dw < 1e-5, "conv2d weight gradient differs from the float64 reference");
  for (size_t i = 0; i < worst_isa.size(); ++i) {
    std::printf("    direct weight gradient (%s) vs float64 loops: %.2e\n",
                direct_conv_isa_name(direct_conv_isas()[i]).c_str(), worst_isa[i]);
    CHECK(worst_isa[i] < 1e-5, "direct weight gradient " + direct_conv_isa_name(direct_conv_isas()[i]) + " differs");
  }
}

TEST(group_norm_backward_fd) {
  for (int groups : {1, 2, 4, 3}) {
    // At least 4 elements per group: with 2 the normalised output is +-1 and the gradient degenerate.
    // The last case has channel runs (H x W) longer than the vector kernels' 16 lanes, plus a tail.
    const bool long_runs = groups == 3;
    const int B = rand_int(1, 3), C = groups * rand_int(1, 3), H = long_runs ? 6 : rand_int(2, 5),
              W = long_runs ? 7 : rand_int(2, 5);
    // Over small groups a float32 difference quotient is either truncation- or rounding-bound
    // (about 1% of random draws failed at any single step), so the differences are of a float64
    // reference forward, which the engine's forward must match.
    fd_check_float64(
        "group_norm groups " + std::to_string(groups) + " x" + shape_str({B, C, H, W}),
        {randn({B, C, H, W}, 2.f), randn({C}), randn({C})},
        [&](const Values& v) {
          return norm_reference(v, (int64_t)B * groups, (int64_t)C / groups * H * W, groups, (int64_t)H * W);
        },
        [&](const Inputs& in) {
          NormStats st;
          return group_norm_forward(in[0], groups, in[1], in[2], 1e-5f, &st);
        },
        [&](const Inputs& in, const Tensor& gy) {
          NormStats st;
          group_norm_forward(in[0], groups, in[1], in[2], 1e-5f, &st);
          Tensor gx, gg(in[1].shape), gb(in[2].shape);
          group_norm_backward(in[0], groups, in[1], st, gy, &gx, &gg, &gb);
          return Inputs{gx, gg, gb};
        });
  }
}

TEST(group_norm_silu_is_group_norm_then_silu) {
  // The fused pass runs the same row kernels in the same order as the two ops: bit-identical.
  const Tensor x = randn({2, 6, 7, 5}, 2.f), gamma = randn({6}), beta = randn({6});
  NormStats s1, s2, s3;
  const Tensor normed = group_norm_forward(x, 3, gamma, beta, 1e-5f, &s1);
  const Tensor want = silu_forward(normed);
  Tensor pre;
  const Tensor fused = group_norm_silu_forward(x, 3, gamma, beta, 1e-5f, &s2, &pre);
  const Tensor fused_no_pre = group_norm_silu_forward(x, 3, gamma, beta, 1e-5f, &s3, nullptr);
  CHECK(fused.v == want.v && fused_no_pre.v == want.v, "fused GroupNorm+SiLU differs from the two ops");
  CHECK(pre.v == normed.v, "the kept pre-activation differs from GroupNorm's output");
  CHECK(s2.mean.v == s1.mean.v && s2.rstd.v == s1.rstd.v, "fused GroupNorm+SiLU statistics differ");
}

TEST(layer_norm_backward_fd) {
  for (int D : {rand_int(4, 7), 16, 33}) {  // D = 2 is degenerate: the output is +-1
    const int N = rand_int(1, 4), L = rand_int(1, 5);
    fd_check_float64(
        "layer_norm D " + std::to_string(D) + " x" + shape_str({N, L, D}),
        {randn({N, L, D}, 2.f), randn({D}), randn({D})},
        [&](const Values& v) { return norm_reference(v, (int64_t)N * L, D, 1, 1); },
        [&](const Inputs& in) {
          NormStats st;
          return layer_norm_forward(in[0], in[1], in[2], 1e-5f, &st);
        },
        [&](const Inputs& in, const Tensor& gy) {
          NormStats st;
          layer_norm_forward(in[0], in[1], in[2], 1e-5f, &st);
          Tensor gx, gg(in[1].shape), gb(in[2].shape);
          layer_norm_backward(in[0], in[1], st, gy, &gx, &gg, &gb);
          return Inputs{gx, gg, gb};
        });
  }
}

TEST(linear_backward_fd) {
  for (bool bias : {true, false}) {
    const int N = rand_int(1, 3), L = rand_int(1, 6), in = rand_int(1, 20), out = rand_int(1, 20);
    Inputs x{randn({N, L, in}), randn({out, in}, 0.3f)};
    if (bias) x.push_back(randn({out}));
    fd_check(
        std::string("linear ") + (bias ? "with" : "without") + " bias " + shape_str({N, L, in}) + " -> " +
            std::to_string(out),
        x, [&](const Inputs& i) { return linear_forward(i[0], i[1], bias ? &i[2] : nullptr); },
        [&](const Inputs& i, const Tensor& gy) {
          Tensor gx, gw(i[1].shape), gb(bias ? i[2].shape : Shape{});
          linear_backward(i[0], i[1], gy, &gx, &gw, bias ? &gb : nullptr);
          Inputs r{gx, gw};
          if (bias) r.push_back(gb);
          return r;
        });
  }
}

TEST(activations_backward_fd) {
  const Shape s{2, rand_int(3, 40)};
  // The differences are of float64 references (which the engine's forwards must match): a float32
  // quotient at eps 1e-3 carries about 2e-4 of rounding where |y| is 4 or more, against gradients
  // that cross 0 (GELU near x = -0.75, SiLU near -1.28). Seed 912306130 read 1.7e-2 for GELU with
  // libm's erf, before the vectorised one; SiLU reached 3.9e-3 over 200 seeds.
  const auto pointwise64 = [](double (*f)(double)) {
    return [f](const Values& v) {
      std::vector<double> y(v[0].size());
      for (size_t j = 0; j < y.size(); ++j) y[j] = f(v[0][j]);
      return y;
    };
  };
  const auto silu64 = [](double x) { return x / (1.0 + std::exp(-x)); };
  const auto gelu64 = [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); };
  fd_check_float64(
      "silu", {randn(s, 2.f)}, pointwise64(silu64), [](const Inputs& i) { return silu_forward(i[0]); },
      [](const Inputs& i, const Tensor& gy) { return Inputs{silu_backward(i[0], gy)}; });
  fd_check_float64(
      "gelu (erf)", {randn(s, 2.f)}, pointwise64(gelu64), [](const Inputs& i) { return gelu_forward(i[0]); },
      [](const Inputs& i, const Tensor& gy) { return Inputs{gelu_backward(i[0], gy)}; });
  const int I = rand_int(1, 12);
  fd_check_float64(
      "geglu", {randn({3, 2, 2 * I}, 2.f)},
      [&](const Values& v) {
        std::vector<double> y(v[0].size() / 2);
        for (size_t j = 0; j < y.size(); ++j) {
          const size_t r = j / I, c = j % I;
          y[j] = v[0][r * 2 * I + c] * gelu64(v[0][r * 2 * I + I + c]);
        }
        return y;
      },
      [](const Inputs& i) { return geglu_forward(i[0]); },
      [](const Inputs& i, const Tensor& gy) { return Inputs{geglu_backward(i[0], gy)}; });
}

// Float64 multi-head attention, softmax(q k^T / sqrt(d)) v per head, masked keys excluded (a fully
// masked row attends to nothing): q [B, Lq, H d], k and v [B, Lk, H d], mask [B, Lk] or empty.
static std::vector<double> attention_reference(const Values& x, int B, int Lq, int Lk, int H, int d,
                                               const std::vector<float>& mask) {
  const std::vector<double>&q = x[0], &k = x[1], &v = x[2];
  const int W = H * d;
  std::vector<double> y((size_t)B * Lq * W, 0.0), p(Lk);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < Lq; ++i) {
        const double* qi = &q[((size_t)b * Lq + i) * W + h * d];
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        for (int j = 0; j < Lk; ++j) {
          const bool kept = mask.empty() || mask[(size_t)b * Lk + j] != 0.f;
          double s = 0;
          for (int c = 0; c < d; ++c) s += qi[c] * k[((size_t)b * Lk + j) * W + h * d + c];
          p[j] = kept ? s / std::sqrt((double)d) : -std::numeric_limits<double>::infinity();
          mx = std::max(mx, p[j]);
        }
        if (mx == -std::numeric_limits<double>::infinity()) continue;
        for (int j = 0; j < Lk; ++j) sum += (p[j] = std::exp(p[j] - mx));
        double* yi = &y[((size_t)b * Lq + i) * W + h * d];
        for (int j = 0; j < Lk; ++j)
          for (int c = 0; c < d; ++c) yi[c] += p[j] / sum * v[((size_t)b * Lk + j) * W + h * d + c];
      }
  return y;
}

// Attention's backward against central differences of the float64 reference. Float32 quotients of a
// 260 x 256 map carried about 1e-2 of rounding on the smallest probed entries (CI read 1.0009e-2).
static void attention_fd(const std::string& label, int B, int H, int d, int Lq, int Lk, const Tensor* mask) {
  std::vector<float> mask_values;
  if (mask) mask_values.assign(mask->v.begin(), mask->v.end());
  fd_check_float64(
      label, {randn({B, Lq, H * d}), randn({B, Lk, H * d}), randn({B, Lk, H * d})},
      [&](const Values& x) { return attention_reference(x, B, Lq, Lk, H, d, mask_values); },
      [&](const Inputs& i) {
        AttentionCache cache;
        return attention_forward(i[0], i[1], i[2], H, mask, &cache);
      },
      [&](const Inputs& i, const Tensor& gy) {
        AttentionCache cache;
        attention_forward(i[0], i[1], i[2], H, mask, &cache);
        Tensor gq, gk, gv;
        attention_backward(i[0], i[1], i[2], H, cache, gy, &gq, &gk, &gv);
        return Inputs{gq, gk, gv};
      },
      1e-3);
}

TEST(attention_backward_fd) {
  struct Case {
    int heads, d, Lq, Lk;
    bool mask;
  };
  for (Case c : {Case{1, 4, 5, 5, false}, Case{2, 3, 6, 6, false}, Case{3, 5, 4, 7, true}, Case{2, 8, 9, 1, false},
                 Case{4, 2, 3, 11, true}}) {
    const int B = rand_int(1, 2);
    Tensor mask({B, c.Lk}, 1.f);
    if (c.mask)
      for (int b = 0; b < B; ++b)
        for (int j = 1; j < c.Lk; j += 2) mask.v[b * c.Lk + j] = 0.f;
    attention_fd("attention heads " + std::to_string(c.heads) + " head_dim " + std::to_string(c.d) + " Lq " +
                     std::to_string(c.Lq) + " Lk " + std::to_string(c.Lk) + (c.mask ? " masked" : ""),
                 B, c.heads, c.d, c.Lq, c.Lk, c.mask ? &mask : nullptr);
  }
}

TEST(attention_large_map_path_fd) {
  // Lq * Lk >= 2^16 takes the path that runs (batch, head) pairs in turn with threaded GEMMs and
  // row-parallel softmax; check it separately.
  const int B = 2, H = 2, d = 3, Lq = 260, Lk = 256;
  Tensor mask({B, Lk}, 1.f);
  for (int j = 0; j < Lk; j += 7) mask.v[Lk + j] = 0.f;
  attention_fd("attention large map Lq 260 Lk 256 masked", B, H, d, Lq, Lk, &mask);
}

TEST(attention_mask_excludes_keys) {
  // Changing a masked key or value must not change the output.
  Tensor q = randn({1, 3, 4}), k = randn({1, 5, 4}), v = randn({1, 5, 4}), mask({1, 5}, 1.f);
  mask.v[2] = 0.f;
  AttentionCache c;
  Tensor y1 = attention_forward(q, k, v, 2, &mask, &c);
  for (int d = 0; d < 4; ++d) {
    k.v[2 * 4 + d] += 3.f;
    v.v[2 * 4 + d] -= 5.f;
  }
  Tensor y2 = attention_forward(q, k, v, 2, &mask, &c);
  double diff = 0;
  for (int64_t i = 0; i < y1.numel(); ++i) diff = std::max(diff, (double)std::fabs(y1.v[i] - y2.v[i]));
  std::printf("    masked key perturbation changes output by %.2e\n", diff);
  CHECK(diff == 0.0, "masked keys leak into the output");
}

TEST(attention_without_cache_equals_with_cache) {
  // Inference (no cache: query blocks, no full probability matrix) against training (full matrix
  // kept), bit for bit: small maps (pairs in parallel) and a large one (several query blocks).
  for (const auto [B, Lq, Lk, W, H] : {std::array<int, 5>{2, 7, 5, 8, 2}, std::array<int, 5>{2, 600, 300, 16, 4}}) {
    Tensor q = randn({B, Lq, W}), k = randn({B, Lk, W}), v = randn({B, Lk, W}), mask({B, Lk}, 1.f);
    mask.v[1] = 0.f;
    AttentionCache c;
    const Tensor kept = attention_forward(q, k, v, H, &mask, &c);
    const Tensor none = attention_forward(q, k, v, H, &mask, nullptr);
    CHECK(kept.v == none.v, "attention without a cache differs from attention with one");
    std::printf("    attention %dx%d tokens, %d heads: inference output identical to training output\n", Lq, Lk, H);
  }
}

TEST(layout_ops_backward_fd) {
  const int B = rand_int(1, 2), C = rand_int(1, 3), H = rand_int(1, 4), W = rand_int(1, 4);
  fd_check(
      "upsample_nearest2x " + shape_str({B, C, H, W}), {randn({B, C, H, W})},
      [](const Inputs& i) { return upsample_nearest2x_forward(i[0]); },
      [](const Inputs&, const Tensor& gy) { return Inputs{upsample_nearest2x_backward(gy)}; });
  const int Ca = rand_int(1, 3), Cb = rand_int(1, 3);
  fd_check(
      "concat_channels", {randn({B, Ca, H, W}), randn({B, Cb, H, W})},
      [](const Inputs& i) { return concat_channels_forward(i[0], i[1]); },
      [&](const Inputs&, const Tensor& gy) {
        Tensor ga, gb;
        concat_channels_backward(gy, Ca, &ga, &gb);
        return Inputs{ga, gb};
      });
  fd_check(
      "pad_bottom_right", {randn({B, C, H, W})}, [](const Inputs& i) { return pad_bottom_right_forward(i[0], 1, 2); },
      [](const Inputs&, const Tensor& gy) { return Inputs{pad_bottom_right_backward(gy, 1, 2)}; });
  {  // the padded tensor against its definition: x where it fits, zero below and right
    const Tensor x = randn({B, C, H, W}), y = pad_bottom_right_forward(x, 1, 2);
    bool ok = y.shape == Shape{B, C, H + 1, W + 2};
    for (int64_t bc = 0; bc < B * C; ++bc)
      for (int64_t i = 0; i < H + 1; ++i)
        for (int64_t j = 0; j < W + 2; ++j)
          ok = ok && y.v[(bc * (H + 1) + i) * (W + 2) + j] == (i < H && j < W ? x.v[(bc * H + i) * W + j] : 0.f);
    CHECK(ok, "pad_bottom_right must copy x and zero the new row and columns");
  }
  fd_check(
      "residual add", {randn({B, C, H, W}), randn({B, C, H, W})}, [](const Inputs& i) { return add(i[0], i[1]); },
      [](const Inputs&, const Tensor& gy) {
        return Inputs{gy, gy};
      });
  fd_check(
      "add_scaled_inplace (scale 0.3)", {randn({B, C, H, W}), randn({B, C, H, W})},
      [](const Inputs& i) {
        Tensor y = i[0];
        add_scaled_inplace(&y, i[1], 0.3f);
        return y;
      },
      [](const Inputs&, const Tensor& gy) {
        Tensor gb(gy.shape);
        add_scaled_inplace(&gb, gy, 0.3f);
        return Inputs{gy, gb};
      });
  // The ResNet block's time embedding, with the backward rule it uses (resnet_block.cc).
  fd_check(
      "add_plane_bias " + shape_str({B, C, H, W}), {randn({B, C, H, W}), randn({B, C})},
      [](const Inputs& i) {
        Tensor y = i[0];
        add_plane_bias(&y, i[1]);
        return y;
      },
      [](const Inputs&, const Tensor& gy) {
        return Inputs{gy, plane_sums(gy)};
      });
  // Each layout change separately, with the backward rule the transformer uses (transformer.cc:
  // the gradient of nchw_to_tokens is tokens_to_nchw and vice versa); the composition alone would
  // be the identity and pass even if both were wrong the same way.
  const Tensor x = randn({B, C, H, W});
  const Tensor tok = nchw_to_tokens(x);
  bool layout_ok = tok.shape == Shape{B, H * W, C};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < H * W; ++p)
        layout_ok = layout_ok && tok.v[(b * H * W + p) * C + c] == x.v[(b * C + c) * H * W + p];
  CHECK(layout_ok, "nchw_to_tokens must give [B, H*W, C] with token p = pixel p's channels");
  fd_check(
      "nchw_to_tokens", {randn({B, C, H, W})}, [](const Inputs& i) { return nchw_to_tokens(i[0]); },
      [&](const Inputs&, const Tensor& gy) { return Inputs{tokens_to_nchw(gy, H, W)}; });
  fd_check(
      "tokens_to_nchw", {randn({B, H * W, C})}, [&](const Inputs& i) { return tokens_to_nchw(i[0], H, W); },
      [](const Inputs&, const Tensor& gy) { return Inputs{nchw_to_tokens(gy)}; });
}

TEST(timestep_embedding_and_mse_fd) {
  for (bool flip : {true, false})
    for (float shift : {0.f, 1.f}) {
      TimestepEmbeddingSpec s{2 * rand_int(2, 8) + (shift > 0 ? 1 : 0), flip, shift, 10000.f};
      Tensor t({3}, std::vector<float>{0.5f, 3.25f, 17.f});
      // The angles reach t * f = 17: a float32 step of 1e-3 there carries ~1e-3 relative rounding,
      // and about 1% of random weightings failed; differences are of a float64 reference instead.
      const auto reference = [&](const Values& v) {
        const int half = s.dim / 2;
        std::vector<double> y(v[0].size() * s.dim, 0.0);
        for (size_t b = 0; b < v[0].size(); ++b)
          for (int j = 0; j < half; ++j) {
            const double ang = v[0][b] * std::exp(-std::log((double)s.max_period) * j / (half - s.freq_shift));
            y[b * s.dim + j] = flip ? std::cos(ang) : std::sin(ang);
            y[b * s.dim + half + j] = flip ? std::sin(ang) : std::cos(ang);
          }
        return y;
      };
      fd_check_float64(
          "timestep_embedding dim " + std::to_string(s.dim) + (flip ? " flip" : "") + " shift " +
              std::to_string((int)shift),
          {t}, reference, [&](const Inputs& i) { return timestep_embedding_forward(i[0], s); },
          [&](const Inputs& i, const Tensor& gy) { return Inputs{timestep_embedding_backward(i[0], s, gy)}; });
    }
  // Diffusers' values for t = 1, dim 4, flip_sin_to_cos = false, shift 1: freqs exp(-ln(1e4) * j / 1).
  TimestepEmbeddingSpec s{4, false, 1.f, 10000.f};
  Tensor e = timestep_embedding_forward(Tensor({1}, std::vector<float>{1.f}), s);
  CHECK(std::fabs(e.v[0] - std::sin(1.f)) < 1e-6 && std::fabs(e.v[1] - std::sin(1e-4f)) < 1e-6 &&
            std::fabs(e.v[2] - std::cos(1.f)) < 1e-6,
        "timestep embedding values differ from the diffusers formula");
  // Against a float64 MSE: the float32 loss's quotient at eps 1e-3 read up to 8.3e-3 over 300 seeds,
  // near the 1e-2 bound.
  Tensor target = randn({2, 3});
  fd_check_float64(
      "mse_loss", {randn({2, 3})},
      [&](const Values& v) {
        double s = 0;
        for (size_t j = 0; j < v[0].size(); ++j) s += (v[0][j] - target.v[j]) * (v[0][j] - target.v[j]);
        return std::vector<double>{s / v[0].size()};
      },
      [&](const Inputs& i) { return Tensor({1}, std::vector<float>{(float)mse_loss_forward(i[0], target)}); },
      [&](const Inputs& i, const Tensor& gy) { return Inputs{mse_loss_backward(i[0], target, gy.v[0])}; });
}

TEST(embedding_lookup_backward_fd) {
  const int V = rand_int(3, 9), D = rand_int(2, 6);
  std::vector<int32_t> ids = {0, V - 1, 1, 1, V - 1};  // repeats accumulate
  fd_check(
      "embedding lookup V " + std::to_string(V) + " D " + std::to_string(D), {randn({V, D})},
      [&](const Inputs& i) { return embedding_lookup_forward(ids.data(), (int64_t)ids.size(), i[0]); },
      [&](const Inputs& i, const Tensor& gy) {
        Tensor g(i[0].shape);
        embedding_lookup_backward(ids.data(), (int64_t)ids.size(), gy, &g);
        return Inputs{g};
      },
      1e-2, 1e-2f, 40);
  bool threw = false;
  try {
    int32_t bad = V;
    embedding_lookup_forward(&bad, 1, randn({V, D}));
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("outside the vocabulary") != std::string::npos;
  }
  CHECK(threw, "out-of-range token id not reported");
}

TEST(vectorised_row_kernels_match_float64) {
  // exp over its whole range (and past it), NaN and infinities.
  std::vector<float> x;
  for (float v = -90.f; v <= 90.f; v += 0.0137f) x.push_back(v);
  std::vector<float> y(x.size());
  exp_rows(x.data(), y.data(), (int64_t)x.size());
  double worst_exp = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp((double)std::min(std::max(x[i], -87.33654f), 88.f));
    worst_exp = std::max(worst_exp, std::fabs(y[i] - want) / want);
  }
  const float specials[3] = {std::nanf(""), std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity()};
  float special_out[3];
  exp_rows(specials, special_out, 3);
  CHECK(std::isnan(special_out[0]), "exp(NaN) must stay NaN (the RL stage detects non-finite values)");
  CHECK(special_out[1] > 1e38f && special_out[2] >= 0.f && special_out[2] < 1e-37f, "exp at +-inf saturates");
  // softmax rows of several lengths (lane remainders) and SiLU with its backward, against double.
  double worst_softmax = 0, worst_silu = 0, worst_silu_grad = 0;
  for (int n : {1, 7, 16, 33, 1000}) {
    Tensor r = randn({n});
    for (float& v : r.v) v *= 6.f;
    std::vector<double> ref(n);
    double mx = -1e300, sum = 0;
    for (int j = 0; j < n; ++j) mx = std::max(mx, (double)r.v[j]);
    for (int j = 0; j < n; ++j) sum += ref[j] = std::exp(r.v[j] - mx);
    Tensor s = r;
    softmax_inplace(s.data(), n);
    for (int j = 0; j < n; ++j) worst_softmax = std::max(worst_softmax, std::fabs(s.v[j] - ref[j] / sum));
    Tensor sy(r.shape), sg(r.shape), gy = randn({n});
    silu_rows(r.data(), sy.data(), n);
    silu_backward_rows(r.data(), gy.data(), sg.data(), n);
    for (int j = 0; j < n; ++j) {
      const double xv = r.v[j], sig = 1.0 / (1.0 + std::exp(-xv));
      worst_silu = std::max(worst_silu, std::fabs(sy.v[j] - xv * sig) / (1.0 + std::fabs(xv * sig)));
      const double g = gy.v[j] * sig * (1.0 + xv * (1.0 - sig));
      worst_silu_grad = std::max(worst_silu_grad, std::fabs(sg.v[j] - g) / (1.0 + std::fabs(g)));
    }
  }
  std::printf("    exp max rel err %.2e; softmax max abs err %.2e; silu %.2e, its backward %.2e (vs float64)\n",
              worst_exp, worst_softmax, worst_silu, worst_silu_grad);
  CHECK(worst_exp < 1.5e-7 && worst_softmax < 1e-6 && worst_silu < 1e-6 && worst_silu_grad < 1e-6,
        "vectorised row kernels differ from float64");
  // erf across its range (absolute error), GELU and GEGLU with their backwards (error relative to
  // 1 + |value|), against std::erf / std::exp in double.
  std::vector<float> ex;
  for (float v = -6.f; v <= 6.f; v += 0.00113f) ex.push_back(v);
  std::vector<float> ey(ex.size());
  erf_rows(ex.data(), ey.data(), (int64_t)ex.size());
  double worst_erf = 0;
  for (size_t i = 0; i < ex.size(); ++i) worst_erf = std::max(worst_erf, std::fabs(ey[i] - std::erf((double)ex[i])));
  const int n = 1001;
  Tensor gate = randn({n}, 3.f), h = randn({n}), gy = randn({n});
  Tensor gl(gate.shape), glg(gate.shape), gg(gate.shape), ggh(gate.shape), ggg(gate.shape);
  gelu_rows(gate.data(), gl.data(), n);
  gelu_backward_rows(gate.data(), gy.data(), glg.data(), n);
  geglu_rows(h.data(), gate.data(), gg.data(), n);
  geglu_backward_rows(h.data(), gate.data(), gy.data(), ggh.data(), ggg.data(), n);
  double worst_gelu = 0;
  auto rel = [](double got, double want) { return std::fabs(got - want) / (1.0 + std::fabs(want)); };
  for (int j = 0; j < n; ++j) {
    const double g = gate.v[j], cdf = 0.5 * (1.0 + std::erf(g / std::sqrt(2.0)));
    const double gelu = g * cdf, dgelu = cdf + g * std::exp(-0.5 * g * g) / std::sqrt(2.0 * M_PI);
    for (double e : {rel(gl.v[j], gelu), rel(glg.v[j], gy.v[j] * dgelu), rel(gg.v[j], h.v[j] * gelu),
                     rel(ggh.v[j], gy.v[j] * gelu), rel(ggg.v[j], gy.v[j] * h.v[j] * dgelu)})
      worst_gelu = std::max(worst_gelu, e);
  }
  std::printf("    erf max abs err %.2e; gelu/geglu and their backwards max rel err %.2e (vs float64)\n", worst_erf,
              worst_gelu);
  CHECK(worst_erf < 6e-7 && worst_gelu < 1e-6, "erf/GELU row kernels differ from float64");
}
