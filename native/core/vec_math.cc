#include "core/vec_math.h"

#include <cstring>

namespace cxrl {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CXRL_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CXRL_MULTIVERSION
#endif

namespace {

constexpr int kLanes = 16;

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// exp(x) = 2^k e^r with k = round(x / ln 2), r = x - k ln 2 in two parts (exact k ln2_hi).
// k comes from adding 1.5 * 2^23 (round to nearest in the mantissa) so no float-to-int conversion
// is needed; 2^k is built from its exponent bits.
inline float exp_one(float x) {
  const float lo = -87.33654f, hi = 88.f;  // k stays within [-126, 127]: 2^k is a normal float
  x = x < lo ? lo : x;                     // NaN passes both comparisons unchanged
  x = x > hi ? hi : x;
  const float shifter = 12582912.f;  // 1.5 * 2^23
  const float t = x * 1.44269504088896341f + shifter;
  const float k = t - shifter;
  const int32_t ki = (int32_t)(float_to_bits(t) - float_to_bits(shifter));
  const float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
  // e^r on |r| <= ln2/2: Taylor to degree 7, Horner form. The truncation (r^8/8! < 7.3e-9
  // relative) stays well under float rounding, so exp stays smooth where k steps: at degree 6 it
  // jumped by about 1.7e-7 there, which finite-difference checks of whole networks picked up.
  float p = 1.f / 5040.f;
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  return p * bits_to_float((uint32_t)(ki + 127) << 23);
}

inline float sigmoid_one(float x) { return 1.f / (1.f + exp_one(-x)); }

// erf(x) = 1 - t (a1 + t (a2 + ... + t a5)) e^(-x^2), t = 1 / (1 + p |x|), odd in x (Abramowitz &
// Stegun 7.1.26: absolute error below 1.5e-7, about 4.4e-7 in float), branch-free.
inline float erf_one(float x) {
  const float ax = x < 0.f ? -x : x;
  const float t = 1.f / (1.f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float r = 1.f - p * t * exp_one(-ax * ax);
  return x < 0.f ? -r : r;
}

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// GELU (erf form) and its derivative.
inline float gelu_one(float x) { return 0.5f * x * (1.f + erf_one(x * kInvSqrt2)); }
inline float gelu_grad_one(float x) {
  return 0.5f * (1.f + erf_one(x * kInvSqrt2)) + x * kInvSqrt2Pi * exp_one(-0.5f * x * x);
}

}  // namespace

CXRL_MULTIVERSION void exp_rows(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_one(x[i]);
}

CXRL_MULTIVERSION void softmax_inplace(float* row, int64_t n) {
  float lane_max[kLanes];
  for (int l = 0; l < kLanes; ++l) lane_max[l] = -3.4028235e38f;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lane_max[l] = row[j + l] > lane_max[l] ? row[j + l] : lane_max[l];
  float mx = -3.4028235e38f;
  for (int l = 0; l < kLanes; ++l) mx = lane_max[l] > mx ? lane_max[l] : mx;
  for (; j < n; ++j) mx = row[j] > mx ? row[j] : mx;
  for (int64_t i = 0; i < n; ++i) row[i] = exp_one(row[i] - mx);
  double lane_sum[kLanes] = {};
  j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lane_sum[l] += row[j + l];
  double sum = 0;
  for (int l = 0; l < kLanes; ++l) sum += lane_sum[l];
  for (; j < n; ++j) sum += row[j];
  const float inv = sum > 0 ? (float)(1.0 / sum) : 0.f;
  for (int64_t i = 0; i < n; ++i) row[i] *= inv;
}

CXRL_MULTIVERSION void silu_rows(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid_one(x[i]);
}

CXRL_MULTIVERSION void silu_backward_rows(const float* x, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = sigmoid_one(x[i]);
    gx[i] = gy[i] * s * (1.f + x[i] * (1.f - s));
  }
}

CXRL_MULTIVERSION void erf_rows(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = erf_one(x[i]);
}

CXRL_MULTIVERSION void gelu_rows(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_one(x[i]);
}

CXRL_MULTIVERSION void gelu_backward_rows(const float* x, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * gelu_grad_one(x[i]);
}

CXRL_MULTIVERSION void geglu_rows(const float* h, const float* g, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = h[i] * gelu_one(g[i]);
}

CXRL_MULTIVERSION void geglu_backward_rows(const float* h, const float* g, const float* gy, float* gh, float* gg,
                                           int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    gh[i] = gy[i] * gelu_one(g[i]);
    gg[i] = gy[i] * h[i] * gelu_grad_one(g[i]);
  }
}

// sum_i f(x[i]) in double lanes.
template <typename F>
inline double lane_sum(const float* x, int64_t n, F f) {
  double s[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) s[l] += f((double)x[j + l]);
  double total = 0;
  for (int l = 0; l < kLanes; ++l) total += s[l];
  for (; j < n; ++j) total += f((double)x[j]);
  return total;
}

CXRL_MULTIVERSION double row_sum(const float* x, int64_t n) {
  return lane_sum(x, n, [](double v) { return v; });
}

CXRL_MULTIVERSION double row_sum_sq_dev(const float* x, int64_t n, double center) {
  return lane_sum(x, n, [center](double v) { return (v - center) * (v - center); });
}

CXRL_MULTIVERSION void norm_grad_sums(const float* x, const float* g, int64_t n, float mean, float rstd,
                                      double sums[2]) {
  double sg[kLanes] = {}, sgx[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double gv = g[j + l], xhat = (double)((x[j + l] - mean) * rstd);
      sg[l] += gv;
      sgx[l] += gv * xhat;
    }
  double a = 0, b = 0;
  for (int l = 0; l < kLanes; ++l) a += sg[l], b += sgx[l];
  for (; j < n; ++j) {
    const double gv = g[j], xhat = (double)((x[j] - mean) * rstd);
    a += gv;
    b += gv * xhat;
  }
  sums[0] += a;
  sums[1] += b;
}

CXRL_MULTIVERSION void layer_norm_grad_sums(const float* x, const float* g, const float* gamma, int64_t n, float mean,
                                            float rstd, double* dgamma, double* dbeta, double m[2]) {
  double m1[kLanes] = {}, m2[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double gv = g[j + l], xhat = (double)((x[j + l] - mean) * rstd), dxhat = gv * gamma[j + l];
      m1[l] += dxhat;
      m2[l] += dxhat * xhat;
      dgamma[j + l] += gv * xhat;
      dbeta[j + l] += gv;
    }
  double a = 0, b = 0;
  for (int l = 0; l < kLanes; ++l) a += m1[l], b += m2[l];
  for (; j < n; ++j) {
    const double gv = g[j], xhat = (double)((x[j] - mean) * rstd), dxhat = gv * gamma[j];
    a += dxhat;
    b += dxhat * xhat;
    dgamma[j] += gv * xhat;
    dbeta[j] += gv;
  }
  m[0] += a;
  m[1] += b;
}

CXRL_MULTIVERSION void norm_input_grad(const float* x, const float* g, float* gx, int64_t n, float mean, float rstd,
                                       float gamma, float m1, float m2) {
  for (int64_t j = 0; j < n; ++j) gx[j] = rstd * (g[j] * gamma - m1 - ((x[j] - mean) * rstd) * m2);
}

CXRL_MULTIVERSION void layer_norm_input_grad(const float* x, const float* g, const float* gamma, float* gx, int64_t n,
                                             float mean, float rstd, float m1, float m2) {
  for (int64_t j = 0; j < n; ++j) gx[j] = rstd * (g[j] * gamma[j] - m1 - ((x[j] - mean) * rstd) * m2);
}

CXRL_MULTIVERSION void layer_affine_normalize(const float* x, float* y, int64_t n, float mean, float rstd,
                                              const float* gamma, const float* beta) {
  for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - mean) * rstd) * gamma[i] + beta[i];
}

CXRL_MULTIVERSION void affine_normalize(const float* x, float* y, int64_t n, float mean, float rstd, float gamma,
                                        float beta) {
  for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - mean) * rstd) * gamma + beta;
}

}  // namespace cxrl
