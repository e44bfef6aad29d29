// GroupNorm / LayerNorm on the device: launches the kernels of norm_kernels.cuh.
#include <stdexcept>

#include "cuda/check.h"
#include "cuda/column_sums.cuh"
#include "cuda/device_memory.h"
#include "cuda/launch.cuh"
#include "cuda/norm_kernels.cuh"
#include "cuda/ops.h"

namespace cxrl {
namespace {

void check_shape(const NormShape& s) {
  if (s.B <= 0 || s.C <= 0 || s.S <= 0 || s.G <= 0 || s.C % s.G != 0)
    throw std::invalid_argument("norm (CUDA): channels must split evenly into groups");
}

}  // namespace

void norm_forward_device(const NormShape& s, const float* x, const float* gamma, const float* beta, float eps, float* y,
                         float* mean, float* rstd, bool silu, float* pre_activation) {
  check_shape(s);
  const int64_t rows = s.B * s.G, len = s.C / s.G * s.S, slices = norm_slices(len);
  DeviceArray<SliceMoments> moments(rows * slices);
  CXRL_LAUNCH(norm_slice_moments, (unsigned)(rows * slices), kNormThreads, 0)(s, x, slices, moments.data());
  CXRL_LAUNCH(norm_finish_stats, finish_blocks(rows), kFinishThreads, 0)(rows, slices, moments.data(), eps, mean, rstd);
  CXRL_LAUNCH(norm_apply, (unsigned)(rows * slices), kNormThreads, 0)
  (s, x, gamma, beta, mean, rstd, slices, y, silu, pre_activation);
  check(cudaGetLastError(), "norm forward launch");
}

void norm_backward_device(const NormShape& s, const float* x, const float* gamma, const float* mean, const float* rstd,
                          const float* gy, float* gx, float* ggamma, float* gbeta) {
  check_shape(s);
  if (gx) {
    const int64_t rows = s.B * s.G, slices = norm_slices(s.C / s.G * s.S);
    DeviceArray<SliceGradSums> sums(rows * slices);
    CXRL_LAUNCH(norm_grad_slice_sums, (unsigned)(rows * slices), kNormThreads, 0)
    (s, x, gamma, mean, rstd, gy, slices, sums.data());
    CXRL_LAUNCH(norm_input_grad_apply, (unsigned)(rows * slices), kNormThreads, 0)
    (s, x, gamma, mean, rstd, gy, slices, sums.data(), gx);
    check(cudaGetLastError(), "norm input grad launch");
  }
  if (!ggamma && !gbeta) return;
  if (s.S == 1) {  // columns, parallel over the rows too
    column_sums_device<2>(s.B, (int)s.C, NormParamValues{s, x, mean, rstd, gy}, ColumnSumOutputs<2>{{ggamma, gbeta}},
                          "norm param grad");
    return;
  }
  CXRL_LAUNCH(norm_param_grad_kernel, (unsigned)s.C, kNormThreads, 0)(s, x, mean, rstd, gy, ggamma, gbeta);
  check(cudaGetLastError(), "norm param grad launch");
}

}  // namespace cxrl
