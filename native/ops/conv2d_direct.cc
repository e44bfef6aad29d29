#include "ops/conv2d_direct.h"

#include <algorithm>
#include <stdexcept>

#include "core/parallel.h"
#include "core/scratch.h"
#include "ops/row_copy.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Layout. Each image's channels are copied into zero-padded planes of width Wp = W + 2 pad. On
// that grid, output position q = oy * Wp + ox reads input q + ky * Wp + kx for tap (ky, kx): a
// constant offset per tap, so a run of consecutive q is one vector load per tap whatever the
// image width. Positions with ox >= Wo (the padding columns) are computed and dropped. A tile is
// kOB output channels x kPV vectors of q, held in registers over all Cin x k x k terms; each
// weight is broadcast straight from its row of w (no repacked copy: sampling calls each
// convolution once per step, where a repack of a large layer costs as much as the layer).

namespace cxrl {
namespace {

using TileFn = void (*)(const float* xs, int64_t plane, int cin, const int* offsets, int taps,
                        const float* const* w_rows, float* out);
using WeightGradFn = void (*)(const float* const* g_rows, int64_t g_stride, const float* x, int64_t x_stride, int batch,
                              int64_t n_q, const int* offsets, float* out);
struct DirectTileKernel {
  TileFn tile;
  int out_block;   // output channels per tile
  int tile_width;  // grid positions per tile
  WeightGradFn weight_grad;
  int wg_out_block;  // output channels per weight-gradient tile
  int lanes;
};

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
using V = __m512;
constexpr int kLanes = 16, kOB = 8, kPV = 3;  // 24 accumulators of the 32 zmm registers
constexpr int kWgOB = 3;                      // 27 accumulators
inline V vzero() { return _mm512_setzero_ps(); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline V vbroadcast(float w) { return _mm512_set1_ps(w); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline float vsum(V v) { return _mm512_reduce_add_ps(v); }
// Keeps v in a register: GCC would otherwise fold a load feeding several FMAs into each of them.
inline void vkeep(V& v) { __asm__("" : "+v"(v)); }
#include "ops/conv2d_direct_tile.inc"
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
using V = __m256;
constexpr int kLanes = 8, kOB = 4, kPV = 3;  // 12 accumulators of the 16 ymm registers
constexpr int kWgOB = 1;                     // 9 accumulators
inline V vzero() { return _mm256_setzero_ps(); }
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline V vbroadcast(float w) { return _mm256_set1_ps(w); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
inline float vsum(V v) {
  alignas(32) float f[8];
  _mm256_store_ps(f, v);
  return ((f[0] + f[1]) + (f[2] + f[3])) + ((f[4] + f[5]) + (f[6] + f[7]));
}
inline void vkeep(V& v) { __asm__("" : "+x"(v)); }
#include "ops/conv2d_direct_tile.inc"
}  // namespace avx2
#pragma GCC pop_options
#define CXRL_DIRECT_CONV_X86 1
#endif

// Portable baseline: scalar code the compiler may vectorise; multiply then add, as written.
namespace baseline {
struct V {
  float f[4];
};
constexpr int kLanes = 4, kOB = 4, kPV = 2, kWgOB = 1;
inline V vzero() { return V{{0.f, 0.f, 0.f, 0.f}}; }
inline V vload(const float* p) { return V{{p[0], p[1], p[2], p[3]}}; }
inline V vbroadcast(float w) { return V{{w, w, w, w}}; }
inline V vfma(V a, V b, V c) {
  for (int i = 0; i < 4; ++i) c.f[i] = a.f[i] * b.f[i] + c.f[i];
  return c;
}
inline void vstore(float* p, V v) {
  for (int i = 0; i < 4; ++i) p[i] = v.f[i];
}
inline float vsum(V v) { return (v.f[0] + v.f[1]) + (v.f[2] + v.f[3]); }
inline void vkeep(V&) {}
#include "ops/conv2d_direct_tile.inc"
}  // namespace baseline

const DirectTileKernel& kernel_for(DirectConvIsa isa) {
  switch (isa) {
#ifdef CXRL_DIRECT_CONV_X86
    case DirectConvIsa::kAvx512:
      return avx512::kKernel;
    case DirectConvIsa::kAvx2:
      return avx2::kKernel;
#endif
    case DirectConvIsa::kBaseline:
      return baseline::kKernel;
    default:
      throw std::invalid_argument("direct convolution: " + direct_conv_isa_name(isa) + " is not compiled in");
  }
}

// Channels [c0, c1) of one image into zero-padded planes of width Wp = W + 2 pad, `plane` floats
// apart (zeros past the image to the end of each plane).
void pad_planes(const float* x, int H, int W, int pad, int64_t plane, int64_t c0, int64_t c1, float* xp) {
  const int Wp = W + 2 * pad;
  for (int64_t c = c0; c < c1; ++c) {
    float* dst = xp + c * plane;
    std::fill(dst, dst + (size_t)pad * Wp, 0.f);
    for (int iy = 0; iy < H; ++iy)
      copy_row_padded(x + ((size_t)c * H + iy) * W - pad, dst + (size_t)(iy + pad) * Wp, pad, pad + W, Wp);
    std::fill(dst + (size_t)(H + pad) * Wp, dst + plane, 0.f);
  }
}

}  // namespace

const std::vector<DirectConvIsa>& direct_conv_isas() {
  static const std::vector<DirectConvIsa> isas = [] {
    std::vector<DirectConvIsa> v;
#ifdef CXRL_DIRECT_CONV_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) v.push_back(DirectConvIsa::kAvx512);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) v.push_back(DirectConvIsa::kAvx2);
#endif
    v.push_back(DirectConvIsa::kBaseline);
    return v;
  }();
  return isas;
}

std::string direct_conv_isa_name(DirectConvIsa isa) {
  switch (isa) {
    case DirectConvIsa::kAvx512:
      return "avx512";
    case DirectConvIsa::kAvx2:
      return "avx2";
    case DirectConvIsa::kBaseline:
      return "baseline";
  }
  return "unknown";
}

void conv2d_direct_forward(const Tensor& x, const Tensor& w, const Tensor* b, int pad, Tensor& y, DirectConvIsa isa) {
  const DirectTileKernel& kern = kernel_for(isa);
  const int B = (int)x.dim(0), cin = (int)x.dim(1), H = (int)x.dim(2), W = (int)x.dim(3);
  const int cout = (int)w.dim(0), k = (int)w.dim(2), taps = k * k;
  const int Wp = W + 2 * pad, Hp = H + 2 * pad, Ho = Hp - k + 1, Wo = Wp - k + 1;
  if (y.shape != Shape{B, cout, Ho, Wo}) throw std::invalid_argument("conv2d_direct_forward: bad output shape");
  const int64_t grid = (int64_t)Ho * Wp;  // output positions on the padded-width grid
  const int TW = kern.tile_width, OB = kern.out_block;
  const int64_t n_qt = (grid + TW - 1) / TW, n_ob = (cout + OB - 1) / OB;
  // Each plane is long enough for the last tile's furthest tap: zeros past the image.
  const int64_t plane = (n_qt * TW + (int64_t)(k - 1) * Wp + (k - 1) + 15) / 16 * 16;

  std::vector<int> offsets(taps);
  for (int t = 0; t < taps; ++t) offsets[t] = (t / k) * Wp + t % k;

  float* xp = scratch_buffer(kScratchColumns, (size_t)cin * plane);
  for (int n = 0; n < B; ++n) {
    const float* xn = x.data() + (size_t)n * cin * H * W;
    float* yn = y.data() + (size_t)n * cout * Ho * Wo;
    parallel_for(cin, 4, [&](int64_t c0, int64_t c1) { pad_planes(xn, H, W, pad, plane, c0, c1, xp); });
    // Tiles ordered output-channel block innermost: consecutive tiles reuse the same input rows.
    parallel_for(n_qt * n_ob, 1, [&](int64_t t0, int64_t t1) {
      std::vector<float> out((size_t)OB * TW);
      std::vector<const float*> w_rows(OB);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t qt = t / n_ob, ob = t % n_ob, q0 = qt * TW;
        const int o_end = (int)std::min<int64_t>(OB, cout - ob * OB);
        for (int j = 0; j < OB; ++j)  // rows past cout repeat the last one; their outputs are dropped
          w_rows[j] = w.data() + (size_t)(ob * OB + std::min(j, o_end - 1)) * cin * taps;
        kern.tile(xp + q0, plane, cin, offsets.data(), taps, w_rows.data(), out.data());
        const int i_end = (int)std::min<int64_t>(TW, grid - q0);
        for (int j = 0; j < o_end; ++j) {
          const int o = (int)(ob * OB + j);
          const float bias = b ? b->v[o] : 0.f;
          float* yo = yn + (size_t)o * Ho * Wo;
          const float* src = out.data() + (size_t)j * TW;
          // Copy the tile's positions row by row, keeping the first Wo of each padded row.
          for (int64_t q = q0, q_end = q0 + i_end; q < q_end;) {
            const int64_t oy = q / Wp, row_end = std::min(q_end, (oy + 1) * Wp);
            const int64_t valid_end = std::min(row_end, oy * Wp + Wo);
            float* yr = yo + oy * Wo + (q - oy * Wp);
            const float* sr = src + (q - q0);
            for (int64_t i = 0; i < valid_end - q; ++i) yr[i] = sr[i] + bias;
            q = row_end;
          }
        }
      }
    });
  }
}

void conv2d_direct_weight_grad(const Tensor& x, const Tensor& gy, int pad, Tensor& gw, DirectConvIsa isa) {
  const DirectTileKernel& kern = kernel_for(isa);
  const int B = (int)x.dim(0), cin = (int)x.dim(1), H = (int)x.dim(2), W = (int)x.dim(3);
  const int cout = (int)gy.dim(1), k = 3, Wp = W + 2 * pad, Ho = H + 2 * pad - k + 1, Wo = Wp - k + 1;
  if (gy.shape != Shape{B, cout, Ho, Wo} || gw.shape != Shape{cout, cin, k, k})
    throw std::invalid_argument("conv2d_direct_weight_grad: shapes do not fit");
  const int64_t grid = (int64_t)Ho * Wp, n_q = (grid + kern.lanes - 1) / kern.lanes * kern.lanes;
  const int64_t plane = (n_q + (int64_t)(k - 1) * Wp + (k - 1) + 15) / 16 * 16;
  // The whole batch at once: each tile sums over all images, so gw gets one addition per weight.
  float* xp = scratch_buffer(kScratchColumns, (size_t)B * cin * plane);
  float* gg = scratch_buffer(kScratchColumnGrads, (size_t)B * cout * n_q);
  parallel_for((int64_t)B * cin, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      pad_planes(x.data() + (size_t)(r / cin) * cin * H * W, H, W, pad, plane, r % cin, r % cin + 1,
                 xp + (size_t)(r / cin) * cin * plane);
  });
  // gy on the same grid: row oy of each channel at oy * Wp, zeros in the padding columns and past
  // the grid.
  parallel_for((int64_t)B * cout, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* src = gy.data() + (size_t)r * Ho * Wo;
      float* dst = gg + (size_t)r * n_q;
      for (int oy = 0; oy < Ho; ++oy) copy_row_padded(src + (size_t)oy * Wo, dst + (size_t)oy * Wp, 0, Wo, Wp);
      std::fill(dst + grid, dst + n_q, 0.f);
    }
  });
  int offsets[9];
  for (int t = 0; t < 9; ++t) offsets[t] = (t / k) * Wp + t % k;
  const int OB = kern.wg_out_block;
  const int64_t n_ob = (cout + OB - 1) / OB;
  // Tiles ordered input channel innermost: consecutive tiles reuse the same gradient rows.
  parallel_for(n_ob * cin, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> out((size_t)OB * 9);
    std::vector<const float*> g_rows(OB);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ob = t / cin, c = t % cin;
      const int o_end = (int)std::min<int64_t>(OB, cout - ob * OB);
      for (int j = 0; j < OB; ++j) g_rows[j] = gg + (size_t)(ob * OB + std::min(j, o_end - 1)) * n_q;
      kern.weight_grad(g_rows.data(), (int64_t)cout * n_q, xp + (size_t)c * plane, (int64_t)cin * plane, B, n_q,
                       offsets, out.data());
      for (int j = 0; j < o_end; ++j) {
        float* dst = gw.data() + ((size_t)(ob * OB + j) * cin + c) * 9;
        for (int tap = 0; tap < 9; ++tap) dst[tap] += out[(size_t)j * 9 + tap];
      }
    }
  });
}

}  // namespace cxrl
