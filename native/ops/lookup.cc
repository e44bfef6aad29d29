#include "ops/lookup.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace cxrl {

Tensor embedding_lookup_forward(const int32_t* ids, int64_t n, const Tensor& table) {
  const int64_t V = table.dim(0), D = table.dim(1);
  Tensor y({n, D});
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= V)
      throw std::invalid_argument("embedding: token id " + std::to_string(ids[i]) + " at position " +
                                  std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
    std::memcpy(y.data() + i * D, table.data() + (int64_t)ids[i] * D, D * sizeof(float));
  }
  return y;
}

void embedding_lookup_backward(const int32_t* ids, int64_t n, const Tensor& gy, Tensor* gtable) {
  const int64_t D = gtable->dim(1);
  for (int64_t i = 0; i < n; ++i) {
    float* dst = gtable->data() + (int64_t)ids[i] * D;
    const float* src = gy.data() + i * D;
    for (int64_t d = 0; d < D; ++d) dst[d] += src[d];
  }
}

}  // namespace cxrl
