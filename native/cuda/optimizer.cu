// Adam/AdamW, EMA, sum of squares, scale, zero and copy on the device: each launches one kernel of
// optimizer_kernels.cuh over a chunk table of all the tensors it was given.
#include <vector>

#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/launch.cuh"
#include "cuda/ops.h"
#include "cuda/optimizer_kernels.cuh"

namespace cxrl {
namespace {

// The tensors' chunk table on the device (empty when every tensor is empty). Freed by its owner
// after the launch that reads it: the caching allocator hands its block out again only to work
// queued after that launch on the same stream.
template <typename Arrays>
DeviceArray<Arrays> device_chunk_table(const std::vector<Arrays>& tensors) {
  const std::vector<Arrays> chunks = chunk_table(tensors);
  return chunks.empty() ? DeviceArray<Arrays>() : to_device(chunks);
}

// Launches kernel(table, args...) with one block per chunk of the tensors' table (nothing when every
// tensor is empty).
template <typename Arrays, typename... KernelArgs, typename... Args>
void launch_chunks(void (*kernel)(const Arrays*, KernelArgs...), const std::vector<Arrays>& tensors, const char* what,
                   Args... args) {
  const DeviceArray<Arrays> table = device_chunk_table(tensors);
  if (table.size() == 0) return;
  CXRL_LAUNCH(kernel, (unsigned)table.size(), kChunkThreads, 0)(table.data(), args...);
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
  const DeviceArray<ConstArray> table = device_chunk_table(tensors);
  if (table.size() == 0) return 0;
  DeviceArray<double> partial(table.size());
  CXRL_LAUNCH(sum_squares_chunks, (unsigned)table.size(), kChunkThreads, 0)(table.data(), partial.data());
  check(cudaGetLastError(), "sum of squares launch");
  double s = 0;
  for (double v : to_host(partial)) s += v;  // fixed order: the result does not depend on scheduling
  return s;
}

void scale_device(const std::vector<MutableArray>& tensors, float s) {
  launch_chunks(scale_chunks, tensors, "scale launch", s);
}

void zero_device(const std::vector<MutableArray>& tensors) { launch_chunks(zero_chunks, tensors, "zero launch"); }

void copy_scaled_device(const std::vector<CopyArrays>& copies, float scale) {
  launch_chunks(copy_scaled_chunks, copies, "copy launch", scale);
}

}  // namespace cxrl
