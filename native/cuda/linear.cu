#include "cuda/elementwise_launch.cuh"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

__global__ void add_bias_kernel(float* y, const float* b, int64_t rows, int out) {
  CXRL_GRID_STRIDE(k, rows * out) y[k] += b[k % out];
}

// gb[o] += sum over rows of gy[r, o]: one thread per column, rows walked in order.
__global__ void column_sum_kernel(const float* gy, float* gb, int64_t rows, int out) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= out) return;
  double s = 0;
  for (int64_t r = 0; r < rows; ++r) s += gy[r * out + o];
  gb[o] += (float)s;
}

}  // namespace

void linear_forward_device(const float* x, const float* w, const float* b, float* y, int64_t rows, int in, int out) {
  sgemm_device(false, true, (int)rows, out, in, 1.f, x, in, w, in, 0.f, y, out);
  if (b) {
    launch_elementwise(add_bias_kernel, rows * out, "linear bias", y, b, rows, out);
  }
}

void linear_backward_device(const float* x, const float* w, const float* gy, float* gx, float* gw, float* gb,
                            int64_t rows, int in, int out) {
  if (gx) sgemm_device(false, false, (int)rows, in, out, 1.f, gy, out, w, in, 0.f, gx, in);
  if (gw) sgemm_device(true, false, out, in, (int)rows, 1.f, gy, out, x, in, 1.f, gw, in);
  if (gb) {
    CXRL_LAUNCH(column_sum_kernel, (out + 255) / 256, 256, 0)(gy, gb, rows, out);
    check(cudaGetLastError(), "linear bias grad launch");
  }
}

}  // namespace cxrl
