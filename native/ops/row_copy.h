// Short row copies for the convolutions' layout passes. Rows here are a few dozen floats, where a
// library memmove/memset call costs more than the copy: plain loops, kept as loops.
#pragma once

namespace cxrl {

// o[i] = src[i] for lo <= i < hi, 0 elsewhere in [0, n).
__attribute__((optimize("no-tree-loop-distribute-patterns"), always_inline)) inline void copy_row_padded(
    const float* src, float* o, int lo, int hi, int n) {
  for (int i = 0; i < lo; ++i) o[i] = 0.f;
  for (int i = lo; i < hi; ++i) o[i] = src[i];
  for (int i = hi; i < n; ++i) o[i] = 0.f;
}

}  // namespace cxrl
