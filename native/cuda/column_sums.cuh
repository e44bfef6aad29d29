// Internal to the CUDA backend: launches the per-column sums of column_sums_kernels.cuh (a linear
// layer's bias gradient, LayerNorm's parameter gradients).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/column_sums_kernels.cuh"
#include "cuda/device_memory.h"
#include "cuda/launch.cuh"

namespace cxrl {

// out.out[k][col] += sum over rows r of values(r, col)[k], for k < V.
template <int V, typename Values>
void column_sums_device(int64_t rows, int cols, Values values, ColumnSumOutputs<V> out, const char* what) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t chunks = column_chunks(rows);
  if (chunks > 65535) throw std::invalid_argument(std::string(what) + ": more rows than one grid's chunks");
  DeviceArray<double> partial((size_t)V * chunks * cols);
  auto* partials = column_partials_kernel<V, Values>;
  auto* finish = column_finish_kernel<V>;
  CXRL_LAUNCH(partials, dim3(column_tiles(cols), (unsigned)chunks), kColumnSumThreads, 0)
  (rows, cols, values, partial.data());
  CXRL_LAUNCH(finish, (cols + kColumnFinishThreads - 1) / kColumnFinishThreads, kColumnFinishThreads, 0)
  (partial.data(), chunks, cols, out);
  check(cudaGetLastError(), what);
}

}  // namespace cxrl
