// Embedding lookups and the timestep embedding on the device: launches embedding_kernels.cuh.
#include "cuda/elementwise_launch.cuh"
#include "cuda/embedding_kernels.cuh"
#include "cuda/ops.h"

namespace cxrl {

void embedding_lookup_forward_device(const int32_t* ids, int64_t n, const float* table, int64_t D, float* y) {
  launch_elementwise(lookup_kernel, n * D, "embedding lookup", ids, n, table, D, y);
}

void embedding_lookup_backward_device(const int32_t* ids, int64_t n, const float* gy, int64_t D, float* gtable) {
  launch_elementwise(lookup_backward_kernel, n * D, "embedding lookup backward", ids, n, gy, D, gtable);
}

void timestep_embedding_forward_device(const float* t, const float* freq, int64_t B, int dim, bool flip_sin_to_cos,
                                       float* y) {
  launch_elementwise(timestep_kernel, B * dim, "timestep embedding", t, freq, B, dim, flip_sin_to_cos, y);
}

}  // namespace cxrl
