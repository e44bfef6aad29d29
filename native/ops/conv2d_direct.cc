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

// The padded-width grid of a stride-1 k x k convolution over H x W images with zero padding pad.
// The kernels walk the grid in steps of `step` positions, so it is rounded up to `covered`.
struct PaddedGrid {
  int cin, H, W, pad, k;
  int Wp, Ho, Wo;
  int64_t grid;     // output positions on the grid: Ho rows of Wp
  int64_t covered;  // grid rounded up to a multiple of step
  int64_t plane;    // floats per padded channel plane: enough for the furthest tap of `covered`
  PaddedGrid(int cin_, int H_, int W_, int pad_, int k_, int step)
      : cin(cin_),
        H(H_),
        W(W_),
        pad(pad_),
        k(k_),
        Wp(W_ + 2 * pad_),
        Ho(H_ + 2 * pad_ - k_ + 1),
        Wo(W_ + 2 * pad_ - k_ + 1),
        grid((int64_t)Ho * Wp),
        covered((grid + step - 1) / step * step),
        plane((covered + (int64_t)(k_ - 1) * Wp + (k_ - 1) + 15) / 16 * 16) {}
  int64_t tap_offset(int t) const { return (int64_t)(t / k) * Wp + t % k; }
};

// Padded copies of a group of images stay within this many floats (64 MiB), one image at least.
constexpr int64_t kMaxGroupFloats = int64_t{16} << 20;

int images_per_group(int64_t floats_per_image, int batch) {
  return (int)std::clamp<int64_t>(kMaxGroupFloats / std::max<int64_t>(1, floats_per_image), 1, batch);
}

// n images x[n, c] into zero-padded planes xp[n * cin + c] (zeros past the image to the end of
// each plane), in one parallel region.
void pad_images(const float* x, int n, const PaddedGrid& pg, float* xp) {
  parallel_for((int64_t)n * pg.cin, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* src = x + (size_t)r * pg.H * pg.W;
      float* dst = xp + (size_t)r * pg.plane;
      std::fill(dst, dst + (size_t)pg.pad * pg.Wp, 0.f);
      for (int iy = 0; iy < pg.H; ++iy)
        copy_row_padded(src + (size_t)iy * pg.W - pg.pad, dst + (size_t)(iy + pg.pad) * pg.Wp, pg.pad, pg.pad + pg.W,
                        pg.Wp);
      std::fill(dst + (size_t)(pg.H + pg.pad) * pg.Wp, dst + pg.plane, 0.f);
    }
  });
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
  const int B = (int)x.dim(0), cin = (int)x.dim(1), cout = (int)w.dim(0), k = (int)w.dim(2), taps = k * k;
  const int TW = kern.tile_width, OB = kern.out_block;
  const PaddedGrid pg(cin, (int)x.dim(2), (int)x.dim(3), pad, k, TW);
  const int64_t n_qt = pg.covered / TW, n_ob = (cout + OB - 1) / OB;
  if (y.shape != Shape{B, cout, pg.Ho, pg.Wo}) throw std::invalid_argument("conv2d_direct_forward: bad output shape");
  std::vector<int> offsets(taps);
  for (int t = 0; t < taps; ++t) offsets[t] = (int)pg.tap_offset(t);

  // Images go in groups: two parallel regions per group, not per image (a UNet pass issues
  // thousands of regions, and each wakes the pool).
  const int group = images_per_group(cin * pg.plane, B);
  float* xp = scratch_buffer(kScratchColumns, (size_t)group * cin * pg.plane);
  for (int n0 = 0; n0 < B; n0 += group) {
    const int g = std::min(group, B - n0);
    pad_images(x.data() + (size_t)n0 * cin * pg.H * pg.W, g, pg, xp);
    // Tiles ordered output-channel block innermost: consecutive tiles reuse the same input rows.
    parallel_for(g * n_qt * n_ob, 1, [&](int64_t t0, int64_t t1) {
      std::vector<float> out((size_t)OB * TW);
      std::vector<const float*> w_rows(OB);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / (n_qt * n_ob), q0 = t / n_ob % n_qt * TW, ob = t % n_ob;
        const int o_end = (int)std::min<int64_t>(OB, cout - ob * OB);
        for (int j = 0; j < OB; ++j)  // rows past cout repeat the last one; their outputs are dropped
          w_rows[j] = w.data() + (size_t)(ob * OB + std::min(j, o_end - 1)) * cin * taps;
        kern.tile(xp + (size_t)n * cin * pg.plane + q0, pg.plane, cin, offsets.data(), taps, w_rows.data(), out.data());
        const int64_t q_end = std::min<int64_t>(q0 + TW, pg.grid);
        for (int j = 0; j < o_end; ++j) {
          const int o = (int)(ob * OB + j);
          const float bias = b ? b->v[o] : 0.f;
          float* yo = y.data() + ((size_t)(n0 + n) * cout + o) * pg.Ho * pg.Wo;
          const float* src = out.data() + (size_t)j * TW;
          // Copy the tile's positions row by row, keeping the first Wo of each padded row.
          for (int64_t q = q0; q < q_end;) {
            const int64_t oy = q / pg.Wp, row_end = std::min(q_end, (oy + 1) * pg.Wp);
            const int64_t valid_end = std::min(row_end, oy * pg.Wp + pg.Wo);
            float* yr = yo + oy * pg.Wo + (q - oy * pg.Wp);
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
  const int B = (int)x.dim(0), cin = (int)x.dim(1), cout = (int)gy.dim(1), k = 3;
  const PaddedGrid pg(cin, (int)x.dim(2), (int)x.dim(3), pad, k, kern.lanes);
  const int64_t n_q = pg.covered;  // gradient rows are zero past the grid
  if (gy.shape != Shape{B, cout, pg.Ho, pg.Wo} || gw.shape != Shape{cout, cin, k, k})
    throw std::invalid_argument("conv2d_direct_weight_grad: shapes do not fit");
  int offsets[9];
  for (int t = 0; t < 9; ++t) offsets[t] = (int)pg.tap_offset(t);
  const int OB = kern.wg_out_block;
  const int64_t n_ob = (cout + OB - 1) / OB;

  // Images in groups; each tile sums over a group's images, so gw gets one addition per weight and
  // group.
  const int group = images_per_group(cin * pg.plane + cout * n_q, B);
  float* xp = scratch_buffer(kScratchColumns, (size_t)group * cin * pg.plane);
  float* gg = scratch_buffer(kScratchColumnGrads, (size_t)group * cout * n_q);
  for (int n0 = 0; n0 < B; n0 += group) {
    const int g = std::min(group, B - n0);
    pad_images(x.data() + (size_t)n0 * cin * pg.H * pg.W, g, pg, xp);
    // gy on the same grid: row oy of each channel at oy * Wp, zeros in the padding columns and
    // past the grid.
    parallel_for((int64_t)g * cout, 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* src = gy.data() + ((size_t)n0 * cout + r) * pg.Ho * pg.Wo;
        float* dst = gg + (size_t)r * n_q;
        for (int oy = 0; oy < pg.Ho; ++oy)
          copy_row_padded(src + (size_t)oy * pg.Wo, dst + (size_t)oy * pg.Wp, 0, pg.Wo, pg.Wp);
        std::fill(dst + pg.grid, dst + n_q, 0.f);
      }
    });
    // Tiles ordered input channel innermost: consecutive tiles reuse the same gradient rows.
    parallel_for(n_ob * cin, 1, [&](int64_t t0, int64_t t1) {
      std::vector<float> out((size_t)OB * 9);
      std::vector<const float*> g_rows(OB);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t ob = t / cin, c = t % cin;
        const int o_end = (int)std::min<int64_t>(OB, cout - ob * OB);
        for (int j = 0; j < OB; ++j) g_rows[j] = gg + (size_t)(ob * OB + std::min(j, o_end - 1)) * n_q;
        kern.weight_grad(g_rows.data(), (int64_t)cout * n_q, xp + (size_t)c * pg.plane, (int64_t)cin * pg.plane, g, n_q,
                         offsets, out.data());
        for (int j = 0; j < o_end; ++j) {
          float* dst = gw.data() + ((size_t)(ob * OB + j) * cin + c) * 9;
          for (int tap = 0; tap < 9; ++tap) dst[tap] += out[(size_t)j * 9 + tap];
        }
      }
    });
  }
}

}  // namespace cxrl
