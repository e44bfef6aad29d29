#include "cuda/column_sums.cuh"
#include "cuda/elementwise_launch.cuh"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

// y[r, :] += b: plane_grid(rows, out), the row from the grid (no division per value).
__global__ void add_bias_kernel(float* y, const float* b, int64_t rows, int out) {
  CXRL_FOR_EACH_PLANE(r, rows) {
    float* yr = y + r * out;
    CXRL_PLANE_STRIDE(o, out) yr[o] += b[o];
  }
}

// The bias gradient's summands: gb[o] += sum over rows of gy[r, o].
struct BiasGradValues {
  const float* gy;
  int out;
  __device__ void operator()(int64_t r, int o, double* v) const { v[0] = gy[r * out + o]; }
};

}  // namespace

void linear_forward_device(const float* x, const float* w, const float* b, float* y, int64_t rows, int in, int out) {
  sgemm_device(false, true, (int)rows, out, in, 1.f, x, in, w, in, 0.f, y, out);
  if (b) launch_planes(add_bias_kernel, rows, out, "linear bias", y, b, rows, out);
}

void linear_backward_device(const float* x, const float* w, const float* gy, float* gx, float* gw, float* gb,
                            int64_t rows, int in, int out) {
  if (gx) sgemm_device(false, false, (int)rows, in, out, 1.f, gy, out, w, in, 0.f, gx, in);
  if (gw) sgemm_device(true, false, out, in, (int)rows, 1.f, gy, out, x, in, 1.f, gw, in);
  if (gb) column_sums_device<1>(rows, out, BiasGradValues{gy, out}, ColumnSumOutputs<1>{{gb}}, "linear bias grad");
}

}  // namespace cxrl
