// Row kernels for the elementwise work around the GEMMs (softmax, SiLU, GELU, normalisation), written
// as plain loops the compiler vectorises, and compiled for AVX-512, AVX2 and the x86-64 baseline
// with the right one chosen at load time (GCC/Clang target_clones; one portable build elsewhere).
// Reductions keep explicit lanes, since a compiler may not reorder a floating-point sum itself.
// The tests compare each kernel with float64 references (test_ops.cc).
#pragma once
#include <cstdint>

namespace cxrl {

// exp(x) to about 1 ulp (Cody-Waite range reduction, degree-7 polynomial), branch-free so that it
// vectorises; below -87.3 it returns exp(-87.3) (1.2e-38) instead of a subnormal, above 88 it
// returns exp(88) (1.65e38); NaN stays NaN.
void exp_rows(const float* x, float* y, int64_t n);

// Softmax of one row in place (max subtracted; sum in double lanes).
void softmax_inplace(float* row, int64_t n);

// erf(x) to about 5e-7 absolute (Abramowitz & Stegun 7.1.26, 1.5e-7, evaluated in float with the
// exp above), branch-free.
void erf_rows(const float* x, float* y, int64_t n);
// GELU, erf form: y = x/2 (1 + erf(x / sqrt 2)); its backward gx = gy * gelu'(x).
void gelu_rows(const float* x, float* y, int64_t n);
void gelu_backward_rows(const float* x, const float* gy, float* gx, int64_t n);
// GEGLU on one row split in halves h and g: y = h * gelu(g); backward gh = gy gelu(g),
// gg = gy h gelu'(g).
void geglu_rows(const float* h, const float* g, float* y, int64_t n);
void geglu_backward_rows(const float* h, const float* g, const float* gy, float* gh, float* gg, int64_t n);

// y = x * sigmoid(x), and its backward gx = gy * s * (1 + x (1 - s)).
void silu_rows(const float* x, float* y, int64_t n);
void silu_backward_rows(const float* x, const float* gy, float* gx, int64_t n);

// Sum, and sum of squared deviations from `center`, in double lanes.
double row_sum(const float* x, int64_t n);
double row_sum_sq_dev(const float* x, int64_t n, double center);
// y = ((x - mean) * rstd) * gamma + beta over a run sharing one affine channel.
void affine_normalize(const float* x, float* y, int64_t n, float mean, float rstd, float gamma, float beta);
// The same over a row whose elements are their own channels (LayerNorm): gamma[j], beta[j].
void layer_affine_normalize(const float* x, float* y, int64_t n, float mean, float rstd, const float* gamma,
                            const float* beta);

// The normalisation backward, xhat = (x - mean) * rstd. Over a run sharing one channel:
// sums[0] += sum g, sums[1] += sum g * xhat (double lanes). Over a row whose elements are their own
// channels (LayerNorm): dgamma[j] += g xhat, dbeta[j] += g, and m[0] += sum g gamma,
// m[1] += sum g gamma xhat.
void norm_grad_sums(const float* x, const float* g, int64_t n, float mean, float rstd, double sums[2]);
void layer_norm_grad_sums(const float* x, const float* g, const float* gamma, int64_t n, float mean, float rstd,
                          double* dgamma, double* dbeta, double m[2]);
// gx = rstd * (g * gamma - m1 - xhat * m2), gamma one value (a run) or one per element (a row).
void norm_input_grad(const float* x, const float* g, float* gx, int64_t n, float mean, float rstd, float gamma,
                     float m1, float m2);
void layer_norm_input_grad(const float* x, const float* g, const float* gamma, float* gx, int64_t n, float mean,
                           float rstd, float m1, float m2);

}  // namespace cxrl
