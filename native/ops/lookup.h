// Embedding lookup: rows of a table selected by integer ids. The backward scatter-adds the output
// gradient into the table's gradient (ids may repeat).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace cxrl {

// ids [n] in [0, V) -> [n, D]; throws naming the first id out of range.
Tensor embedding_lookup_forward(const int32_t* ids, int64_t n, const Tensor& table);
void embedding_lookup_backward(const int32_t* ids, int64_t n, const Tensor& gy, Tensor* gtable);

}  // namespace cxrl
