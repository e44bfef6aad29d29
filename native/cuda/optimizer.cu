// Adam/AdamW, EMA, sum of squares and scale on the device: each launches one kernel of
// optimizer_kernels.cuh over a chunk table of all the tensors it was given.
#include <vector>

#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/launch.cuh"
#include "cuda/ops.h"
#include "cuda/optimizer_kernels.cuh"

namespace cxrl {
namespace {

// Launches kernel(table, args...) with one block per chunk of the tensors' table (nothing when every
// tensor is empty). The table is freed on return: the caching allocator hands its block out again
// only to work queued after this launch on the same stream.
template <typename Arrays, typename... KernelArgs, typename... Args>
void launch_chunks(void (*kernel)(const Arrays*, KernelArgs...), const std::vector<Arrays>& tensors, const char* what,
                   Args... args) {
  const std::vector<Arrays> chunks = chunk_table(tensors);
  if (chunks.empty()) return;
  const DeviceArray<Arrays> table = to_device(chunks);
  CXRL_LAUNCH(kernel, (unsigned)chunks.size(), kChunkThreads, 0)(table.data(), args...);
  check(cudaGetLastError(), what);
}

}  // namespace

void adam_step_device(const AdamStepScalars& k, const std::vector<AdamArrays>& tensors) {
  launch_chunks(adam_chunks, tensors, "adam launch", k);
}

void ema_update_device(const std::vector<EmaArrays>& tensors, float decay) {
  launch_chunks(ema_chunks, tensors, "ema launch", decay, 1.f - decay);
}

double sum_squares_device(const std::vector<ConstArray>& tensors) {
  const std::vector<ConstArray> chunks = chunk_table(tensors);
  if (chunks.empty()) return 0;
  const DeviceArray<ConstArray> table = to_device(chunks);
  DeviceArray<double> partial(chunks.size());
  CXRL_LAUNCH(sum_squares_chunks, (unsigned)chunks.size(), kChunkThreads, 0)(table.data(), partial.data());
  check(cudaGetLastError(), "sum of squares launch");
  double s = 0;
  for (double v : to_host(partial)) s += v;  // fixed order: the result does not depend on scheduling
  return s;
}

void scale_device(const std::vector<MutableArray>& tensors, float s) {
  launch_chunks(scale_chunks, tensors, "scale launch", s);
}

}  // namespace cxrl
