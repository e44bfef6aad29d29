#include "cuda/block_reduce.cuh"
#include "cuda/device_memory.h"
#include "cuda/elementwise.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

// The CPU step's arithmetic, element for element (native/model/optimizer.cc).
__global__ void adam_kernel(AdamStepScalars k, float* p, const float* g, float* m, float* v, int64_t n) {
  CXRL_GRID_STRIDE(i, n) {
    float gi = g[i], pi = p[i];
    if (k.decoupled)
      pi -= k.lr * k.weight_decay * pi;
    else
      gi += k.weight_decay * pi;
    const float mi = k.beta1 * m[i] + (1.f - k.beta1) * gi, vi = k.beta2 * v[i] + (1.f - k.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - k.step_size * mi / (sqrtf(vi) * k.inv_sqrt_bc2 + k.eps);
  }
}

__global__ void ema_kernel(float* dst, const float* src, int64_t n, float keep, float take) {
  CXRL_GRID_STRIDE(i, n) dst[i] = keep * dst[i] + take * src[i];
}

constexpr int kReduceBlocks = 256;

__global__ void sum_squares_partials(const float* x, int64_t n, double* partial) {
  double acc = 0;
  CXRL_GRID_STRIDE(i, n) acc += (double)x[i] * x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void scale_kernel(float* x, float s, int64_t n) { CXRL_GRID_STRIDE(i, n) x[i] *= s; }

}  // namespace

double sum_squares_device(const std::vector<std::pair<const float*, int64_t>>& arrays) {
  DeviceArray<double> partial(kReduceBlocks * arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i)
    sum_squares_partials<<<kReduceBlocks, kElementwiseThreads>>>(arrays[i].first, arrays[i].second,
                                                                 partial.data() + i * kReduceBlocks);
  check(cudaGetLastError(), "sum of squares launch");
  double s = 0;
  for (double v : to_host(partial)) s += v;  // fixed order: the result does not depend on scheduling
  return s;
}

void scale_device(float* x, float s, int64_t n) { launch_elementwise(scale_kernel, n, "scale", x, s, n); }

void adam_step_device(const AdamStepScalars& k, float* p, const float* g, float* m, float* v, int64_t n) {
  launch_elementwise(adam_kernel, n, "adam", k, p, g, m, v, n);
}

void ema_update_device(float* dst, const float* src, int64_t n, float decay) {
  launch_elementwise(ema_kernel, n, "ema", dst, src, n, decay, 1.f - decay);
}

}  // namespace cxrl
