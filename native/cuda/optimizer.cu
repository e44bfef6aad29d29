// Adam/AdamW, EMA, sum of squares and scale on the device: launches optimizer_kernels.cuh.
#include <vector>

#include "cuda/device_memory.h"
#include "cuda/elementwise_launch.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"
#include "cuda/optimizer_kernels.cuh"

namespace cxrl {

double sum_squares_device(const std::vector<std::pair<const float*, int64_t>>& arrays) {
  // Blocks per array: one per kElementwiseThreads values, at most kReduceBlocks (a small bias
  // vector is one block, not 256 idle ones); partials summed in a fixed order on the host.
  std::vector<unsigned> blocks;
  size_t total = 0;
  for (const auto& a : arrays) {
    blocks.push_back(sum_squares_blocks(a.second));
    total += blocks.back();
  }
  DeviceArray<double> partial(total);
  size_t offset = 0;
  for (size_t i = 0; i < arrays.size(); ++i) {
    CXRL_LAUNCH(sum_squares_partials, blocks[i], kElementwiseThreads, 0)
    (arrays[i].first, arrays[i].second, partial.data() + offset);
    offset += blocks[i];
  }
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
