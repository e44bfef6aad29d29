// Equal-length spans of values, copied end to end into one tensor on their device: a batch of rows
// taken from several tensors (the RL update's x_t of sample b at its own step, from the stored
// trajectory), or a block cut out of each row (the ACE tokens' slice of d/d(context)).
#pragma once
#include <vector>

#include "core/tensor.h"

namespace cxrl {

struct Span {
  const Tensor* source;
  int64_t offset;  // first value of the span in source's storage order
};

// out, of shape out_shape, holds span_length values from each span in turn. Every source must be on
// one device (the result's) and hold its span; throws std::invalid_argument saying which does not.
Tensor gather_spans(const std::vector<Span>& spans, int64_t span_length, Shape out_shape);

// Row rows[k] of sources[k] (each [N, ...], one row shape) as row k of the result: [K, ...].
Tensor gather_rows(const std::vector<const Tensor*>& sources, const std::vector<int64_t>& rows);

}  // namespace cxrl
