#include <vector>

#include "cuda/block_reduce.cuh"
#include "cuda/device_memory.h"
#include "cuda/elementwise_launch.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

constexpr int kMseBlocks = 256;

__global__ void squared_error_partials(const float* p, const float* t, int64_t n, double* partial) {
  double acc = 0;
  CXRL_GRID_STRIDE(i, n) {
    const double d = (double)p[i] - t[i];
    acc += d * d;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void mse_grad_kernel(const float* p, const float* t, float k, float* g, int64_t n) {
  CXRL_GRID_STRIDE(i, n) g[i] = k * (p[i] - t[i]);
}

}  // namespace

double mse_loss_forward_device(const float* pred, const float* target, int64_t n) {
  DeviceArray<double> partial(kMseBlocks);
  CXRL_LAUNCH(squared_error_partials, kMseBlocks, kElementwiseThreads, 0)(pred, target, n, partial.data());
  check(cudaGetLastError(), "mse launch");
  double s = 0;
  for (double v : to_host(partial)) s += v;  // fixed order: the result does not depend on scheduling
  return s / n;
}

void mse_loss_backward_device(const float* pred, const float* target, float grad_loss, float* g, int64_t n) {
  launch_elementwise(mse_grad_kernel, n, "mse backward", pred, target, 2.f * grad_loss / n, g, n);
}

}  // namespace cxrl
