#include "cuda/elementwise_launch.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;

__device__ float gelu(float x) { return 0.5f * x * (1.f + erff(x * kInvSqrt2)); }
// d/dx [x Phi(x)] = Phi(x) + x phi(x)
__device__ float gelu_grad(float x) {
  return 0.5f * (1.f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
}
__device__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

__global__ void silu_kernel(const float* x, float* y, int64_t n) { CXRL_GRID_STRIDE(i, n) y[i] = x[i] * sigmoid(x[i]); }
__global__ void silu_backward_kernel(const float* x, const float* gy, float* gx, int64_t n) {
  CXRL_GRID_STRIDE(i, n) {
    const float s = sigmoid(x[i]);
    gx[i] = gy[i] * s * (1.f + x[i] * (1.f - s));
  }
}
__global__ void gelu_kernel(const float* x, float* y, int64_t n) { CXRL_GRID_STRIDE(i, n) y[i] = gelu(x[i]); }
__global__ void gelu_backward_kernel(const float* x, const float* gy, float* gx, int64_t n) {
  CXRL_GRID_STRIDE(i, n) gx[i] = gy[i] * gelu_grad(x[i]);
}
// Row r of x holds the hidden half [0, I) and the gate half [I, 2I). On plane_grid(rows, I): the
// row from the grid, no division per value.
__global__ void geglu_kernel(const float* x, float* y, int64_t rows, int64_t I) {
  CXRL_FOR_EACH_PLANE(r, rows) {
    const float *h = x + r * 2 * I, *g = h + I;
    float* yr = y + r * I;
    CXRL_PLANE_STRIDE(c, (int)I) yr[c] = h[c] * gelu(g[c]);
  }
}
__global__ void geglu_backward_kernel(const float* x, const float* gy, float* gx, int64_t rows, int64_t I) {
  CXRL_FOR_EACH_PLANE(r, rows) {
    const float *h = x + r * 2 * I, *g = h + I, *gyr = gy + r * I;
    float *gh = gx + r * 2 * I, *gg = gh + I;
    CXRL_PLANE_STRIDE(c, (int)I) {
      gh[c] = gyr[c] * gelu(g[c]);
      gg[c] = gyr[c] * h[c] * gelu_grad(g[c]);
    }
  }
}

}  // namespace

void silu_forward_device(const float* x, float* y, int64_t n) { launch_elementwise(silu_kernel, n, "silu", x, y, n); }
void silu_backward_device(const float* x, const float* gy, float* gx, int64_t n) {
  launch_elementwise(silu_backward_kernel, n, "silu backward", x, gy, gx, n);
}
void gelu_forward_device(const float* x, float* y, int64_t n) { launch_elementwise(gelu_kernel, n, "gelu", x, y, n); }
void gelu_backward_device(const float* x, const float* gy, float* gx, int64_t n) {
  launch_elementwise(gelu_backward_kernel, n, "gelu backward", x, gy, gx, n);
}
void geglu_forward_device(const float* x, float* y, int64_t rows, int64_t I) {
  launch_planes(geglu_kernel, rows, I, "geglu", x, y, rows, I);
}
void geglu_backward_device(const float* x, const float* gy, float* gx, int64_t rows, int64_t I) {
  launch_planes(geglu_backward_kernel, rows, I, "geglu backward", x, gy, gx, rows, I);
}

}  // namespace cxrl
