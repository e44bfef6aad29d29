#include "ops/lookup.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "ops/device_ops.h"

namespace cxrl {

namespace {

// Ids are host values on every device: checked here once, before any kernel reads them.
void check_ids(const int32_t* ids, int64_t n, int64_t V) {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= V)
      throw std::invalid_argument("embedding: token id " + std::to_string(ids[i]) + " at position " +
                                  std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
}

}  // namespace

Tensor embedding_lookup_forward(const int32_t* ids, int64_t n, const Tensor& table) {
  const int64_t V = table.dim(0), D = table.dim(1);
  check_ids(ids, n, V);
  if (table.on_device()) return device_ops("embedding_lookup_forward", table).embedding_lookup_forward(ids, n, table);
  Tensor y = Tensor::uninitialized({n, D});  // every row copied below
  for (int64_t i = 0; i < n; ++i) std::memcpy(y.data() + i * D, table.data() + (int64_t)ids[i] * D, D * sizeof(float));
  return y;
}

void embedding_lookup_backward(const int32_t* ids, int64_t n, const Tensor& gy, Tensor* gtable) {
  check_ids(ids, n, gtable->dim(0));
  if (gtable->on_device())
    return device_ops("embedding_lookup_backward", *gtable, {&gy}).embedding_lookup_backward(ids, n, gy, gtable);
  const int64_t D = gtable->dim(1);
  for (int64_t i = 0; i < n; ++i) {
    float* dst = gtable->data() + (int64_t)ids[i] * D;
    const float* src = gy.data() + i * D;
    for (int64_t d = 0; d < D; ++d) dst[d] += src[d];
  }
}

}  // namespace cxrl
