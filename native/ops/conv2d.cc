#include "ops/conv2d.h"

#include <algorithm>

#include "core/gemm.h"
#include "core/parallel.h"
#include "core/scratch.h"
#include "core/vec_math.h"
#include "ops/conv2d_direct.h"
#include "ops/device_ops.h"
#include "ops/row_copy.h"

namespace cxrl {
namespace {

struct ConvDims {
  int B, Cin, H, W, Cout, k, Ho, Wo;
  int64_t cols() const { return (int64_t)Ho * Wo; }
  int64_t rows() const { return (int64_t)Cin * k * k; }
  bool pointwise(Conv2dGeom g) const { return k == 1 && g.stride == 1 && g.pad == 0; }
};

ConvDims dims_of(const Tensor& x, const Tensor& w, Conv2dGeom g) {
  if (x.ndim() != 4 || w.ndim() != 4 || w.dim(2) != w.dim(3) || w.dim(1) != x.dim(1))
    throw std::invalid_argument("conv2d: x " + shape_str(x.shape) + " and weight " + shape_str(w.shape) +
                                " do not fit (expected x [B,C,H,W], w [O,C,k,k])");
  ConvDims d{(int)x.dim(0), (int)x.dim(1), (int)x.dim(2), (int)x.dim(3), (int)w.dim(0), (int)w.dim(2), 0, 0};
  d.Ho = (d.H + 2 * g.pad - d.k) / g.stride + 1;
  d.Wo = (d.W + 2 * g.pad - d.k) / g.stride + 1;
  if (d.Ho <= 0 || d.Wo <= 0) throw std::invalid_argument("conv2d: output would be empty");
  return d;
}

// The band of output rows [oy0, oy1):
// col[(c*k + ky)*k + kx, (oy - oy0)*Wo + ox] = x[c, oy*s - p + ky, ox*s - p + kx] (0 outside).
void im2col(const float* x, const ConvDims& d, Conv2dGeom g, int oy0, int oy1, float* col) {
  const int64_t band_cols = (int64_t)(oy1 - oy0) * d.Wo;
  parallel_for(d.rows(), 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int c = (int)(r / (d.k * d.k)), ky = (int)(r / d.k % d.k), kx = (int)(r % d.k);
      const float* xc = x + (size_t)c * d.H * d.W;
      float* out = col + r * band_cols;
      for (int oy = oy0; oy < oy1; ++oy) {
        const int iy = oy * g.stride - g.pad + ky;
        float* o = out + (size_t)(oy - oy0) * d.Wo;
        if (iy < 0 || iy >= d.H) {
          std::fill(o, o + d.Wo, 0.f);
          continue;
        }
        const float* xr = xc + (size_t)iy * d.W;
        if (g.stride == 1) {
          // ix = ox - pad + kx: zeros left and right of the image, one contiguous copy between.
          const int lo = std::clamp(g.pad - kx, 0, d.Wo), hi = std::clamp(d.W + g.pad - kx, lo, d.Wo);
          copy_row_padded(xr - g.pad + kx, o, lo, hi, d.Wo);
          continue;
        }
        for (int ox = 0; ox < d.Wo; ++ox) {
          const int ix = ox * g.stride - g.pad + kx;
          o[ox] = (ix >= 0 && ix < d.W) ? xr[ix] : 0.f;
        }
      }
    }
  });
}

// The adjoint of im2col: scatter-add columns back to the image. Parallel over input channels,
// which own disjoint rows of col, so no two threads write the same pixel.
void col2im(const float* col, const ConvDims& d, Conv2dGeom g, float* x) {
  parallel_for(d.Cin, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* xc = x + (size_t)c * d.H * d.W;
      std::fill(xc, xc + (size_t)d.H * d.W, 0.f);
      for (int ky = 0; ky < d.k; ++ky)
        for (int kx = 0; kx < d.k; ++kx) {
          const float* in = col + ((c * d.k + ky) * d.k + kx) * d.cols();
          for (int oy = 0; oy < d.Ho; ++oy) {
            const int iy = oy * g.stride - g.pad + ky;
            if (iy < 0 || iy >= d.H) continue;
            float* xr = xc + (size_t)iy * d.W;
            const float* ir = in + (size_t)oy * d.Wo;
            if (g.stride == 1) {  // the valid columns as one contiguous range, as in im2col
              const int lo = std::clamp(g.pad - kx, 0, d.Wo), hi = std::clamp(d.W + g.pad - kx, lo, d.Wo);
              const int shift = kx - g.pad;
              for (int ox = lo; ox < hi; ++ox) xr[ox + shift] += ir[ox];
              continue;
            }
            for (int ox = 0; ox < d.Wo; ++ox) {
              const int ix = ox * g.stride - g.pad + kx;
              if (ix >= 0 && ix < d.W) xr[ix] += ir[ox];
            }
          }
        }
    }
  });
}

}  // namespace

// The im2col buffer holds at most this many floats (64 MiB): a large image (a VAE decoder at
// 512x512 with 256 input channels would need 2.4 GB) is convolved in bands of output rows.
constexpr int64_t kMaxColumnFloats = int64_t{16} << 20;

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, Conv2dGeom g) {
  const ConvDims d = dims_of(x, w, g);
  if (x.on_device()) return device_ops("conv2d_forward", x, {&w, b}).conv2d_forward(x, w, b, g);
  // Measured (bench/conv-bench.ts, bench/RESULTS.md): the direct kernel is 1.03-3.2x faster than
  // im2col + GEMM for 3x3 layers up to 512 input channels, and 3-7% slower from 640 (SD's 32x32
  // and 8x8 levels), where each output sums over more than kDirectMaxTerms products and OpenBLAS's
  // packed GEMM wins. The choice depends on the geometry only, never on the batch, so a sample's
  // result does not depend on the batch it was computed in.
  constexpr int64_t kDirectMaxTerms = 512 * 9;
  if (g.stride == 1 && d.k > 1 && d.rows() <= kDirectMaxTerms) {
    Tensor y = Tensor::uninitialized({d.B, d.Cout, d.Ho, d.Wo});  // every element written
    conv2d_direct_forward(x, w, b, g.pad, y, direct_conv_isas().front());
    return y;
  }
  return conv2d_forward_im2col(x, w, b, g);
}

Tensor conv2d_forward_im2col(const Tensor& x, const Tensor& w, const Tensor* b, Conv2dGeom g) {
  const ConvDims d = dims_of(x, w, g);
  Tensor y = Tensor::uninitialized({d.B, d.Cout, d.Ho, d.Wo});  // every element written by a beta-0 GEMM
  const int band = (int)std::clamp<int64_t>(kMaxColumnFloats / std::max<int64_t>(1, d.rows() * d.Wo), 1, d.Ho);
  float* col =
      d.pointwise(g) ? nullptr : scratch_buffer(kScratchColumns, d.rows() * std::min<int64_t>(d.cols(), band * d.Wo));
  for (int n = 0; n < d.B; ++n) {
    const float* xn = x.data() + (size_t)n * d.Cin * d.H * d.W;
    float* yn = y.data() + (size_t)n * d.Cout * d.cols();
    if (d.pointwise(g)) {
      sgemm(false, false, d.Cout, (int)d.cols(), (int)d.rows(), 1.f, w.data(), (int)d.rows(), xn, (int)d.cols(), 0.f,
            yn, (int)d.cols());
    } else {
      for (int oy0 = 0; oy0 < d.Ho; oy0 += band) {
        const int oy1 = std::min(d.Ho, oy0 + band), n_cols = (oy1 - oy0) * d.Wo;
        im2col(xn, d, g, oy0, oy1, col);
        // y[:, oy0*Wo : oy1*Wo] = W col (rows of y keep their full stride)
        sgemm(false, false, d.Cout, n_cols, (int)d.rows(), 1.f, w.data(), (int)d.rows(), col, n_cols, 0.f,
              yn + (size_t)oy0 * d.Wo, (int)d.cols());
      }
    }
    if (b) {
      parallel_for(d.Cout, 4, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) {
          float* row = yn + o * d.cols();
          const float bias = b->v[o];
          for (int64_t i = 0; i < d.cols(); ++i) row[i] += bias;
        }
      });
    }
  }
  return y;
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, Conv2dGeom g, Tensor* gx, Tensor* gw,
                     Tensor* gb) {
  const ConvDims d = dims_of(x, w, g);
  if (x.on_device())
    return device_ops("conv2d_backward", x, {&w, &gy, gw, gb}).conv2d_backward(x, w, gy, g, gx, gw, gb);
  if (gy.shape != Shape{d.B, d.Cout, d.Ho, d.Wo}) throw std::invalid_argument("conv2d_backward: bad grad shape");
  // For stride 1, dx is itself a stride-1 convolution: of gy with the kernel flipped in space and
  // transposed (input <-> output channels), padded by k - 1 - pad. That runs the direct kernel
  // instead of a GEMM into columns and col2im's scatter-add.
  if (gx && g.stride == 1 && d.k > 1 && g.pad <= d.k - 1) {
    const int taps = d.k * d.k;
    Tensor w_flipped = Tensor::uninitialized({d.Cin, d.Cout, d.k, d.k});
    for (int o = 0; o < d.Cout; ++o)
      for (int c = 0; c < d.Cin; ++c)
        for (int t = 0; t < taps; ++t)
          w_flipped.v[((size_t)c * d.Cout + o) * taps + (taps - 1 - t)] = w.v[((size_t)o * d.Cin + c) * taps + t];
    *gx = Tensor::uninitialized(x.shape);
    conv2d_direct_forward(gy, w_flipped, nullptr, d.k - 1 - g.pad, *gx, direct_conv_isas().front());
    gx = nullptr;  // done: the loop below computes dw and db only
  }
  if (gw && g.stride == 1 && d.k == 3) {
    conv2d_direct_weight_grad(x, gy, g.pad, *gw, direct_conv_isas().front());
    gw = nullptr;
  }
  if (gx) *gx = Tensor(x.shape);
  float* col = gw && !d.pointwise(g) ? scratch_buffer(kScratchColumns, d.rows() * d.cols()) : nullptr;
  float* dcol = gx && !d.pointwise(g) ? scratch_buffer(kScratchColumnGrads, d.rows() * d.cols()) : nullptr;
  for (int n = 0; n < d.B; ++n) {
    const float* xn = x.data() + (size_t)n * d.Cin * d.H * d.W;
    const float* gyn = gy.data() + (size_t)n * d.Cout * d.cols();
    if (gw) {
      const float* src = xn;
      if (!d.pointwise(g)) {
        im2col(xn, d, g, 0, d.Ho, col);
        src = col;
      }
      // dW[Cout, rows] += gy[Cout, cols] * col[rows, cols]^T
      sgemm(false, true, d.Cout, (int)d.rows(), (int)d.cols(), 1.f, gyn, (int)d.cols(), src, (int)d.cols(), 1.f,
            gw->data(), (int)d.rows());
    }
    if (gb) {
      parallel_for(d.Cout, 4, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) gb->v[o] += (float)row_sum(gyn + o * d.cols(), d.cols());
      });
    }
    if (gx) {
      float* gxn = gx->data() + (size_t)n * d.Cin * d.H * d.W;
      // dcol[rows, cols] = W[Cout, rows]^T * gy[Cout, cols]
      float* dst = d.pointwise(g) ? gxn : dcol;
      sgemm(true, false, (int)d.rows(), (int)d.cols(), d.Cout, 1.f, w.data(), (int)d.rows(), gyn, (int)d.cols(), 0.f,
            dst, (int)d.cols());
      if (!d.pointwise(g)) col2im(dcol, d, g, gxn);
    }
  }
}

}  // namespace cxrl
