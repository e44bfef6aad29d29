// Sums over the rows of a row-major [rows, cols] array of values, per column, for reductions where
// the columns are the fast axis and the rows many: a linear layer's bias gradient and LayerNorm's
// gamma / beta gradients over tokens (tens of thousands of rows, a few hundred columns). Parallel
// over both axes and deterministic: block (tile, chunk) sums kRowsPerChunk rows of 32 columns
// (eight row lanes, each column's lane partials added in order) into a double partial per chunk,
// and a second kernel adds each column's chunk partials in chunk order into the output. The values
// come from a functor values(row, col, v) that writes V doubles (the summands of V sums at once).
// column_sums.cuh launches them; a CPU test runs them on an emulated GPU
// (native/tests/test_emulated_norm.cc).
#pragma once
#include <cstdint>

namespace cxrl {
namespace {

constexpr int kColumnTile = 32, kRowLanes = 8, kColumnSumThreads = kColumnTile * kRowLanes;
constexpr int64_t kRowsPerChunk = 256;

// Where the V sums go (accumulated into; a null pointer: that sum is not wanted). By value, so the
// kernel gets the pointers as parameters.
template <int V>
struct ColumnSumOutputs {
  float* out[V];
};

inline int64_t column_chunks(int64_t rows) { return (rows + kRowsPerChunk - 1) / kRowsPerChunk; }
inline unsigned column_tiles(int cols) { return (unsigned)((cols + kColumnTile - 1) / kColumnTile); }

// Grid (column_tiles(cols), column_chunks(rows)), kColumnSumThreads threads: thread t takes column
// t % 32 of the tile and rows lane, lane + 8, ... of the chunk (lane = t / 32). partial is
// [V][chunks][cols].
template <int V, typename Values>
__global__ void column_partials_kernel(int64_t rows, int cols, Values values, double* partial) {
  __shared__ double lane_sums[V][kRowLanes][kColumnTile];
  const int x = threadIdx.x % kColumnTile, lane = threadIdx.x / kColumnTile, col = blockIdx.x * kColumnTile + x;
  const int64_t chunk = blockIdx.y, r0 = chunk * kRowsPerChunk,
                r1 = rows < r0 + kRowsPerChunk ? rows : r0 + kRowsPerChunk;
  double acc[V];
  for (int k = 0; k < V; ++k) acc[k] = 0;
  if (col < cols)
    for (int64_t r = r0 + lane; r < r1; r += kRowLanes) {
      double v[V];
      values(r, col, v);
      for (int k = 0; k < V; ++k) acc[k] += v[k];
    }
  for (int k = 0; k < V; ++k) lane_sums[k][lane][x] = acc[k];
  __syncthreads();
  if (lane != 0 || col >= cols) return;
  for (int k = 0; k < V; ++k) {
    double s = 0;
    for (int l = 0; l < kRowLanes; ++l) s += lane_sums[k][l][x];
    partial[((int64_t)k * gridDim.y + chunk) * cols + col] = s;
  }
}

constexpr int kColumnFinishThreads = 256;

// out.out[k][col] += the chunks' partials of sum k, in chunk order. One thread per column.
template <int V>
__global__ void column_finish_kernel(const double* partial, int64_t chunks, int cols, ColumnSumOutputs<V> out) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= cols) return;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    if (!out.out[k]) continue;
    double s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += partial[((int64_t)k * chunks + c) * cols + col];
    out.out[k][col] += (float)s;
  }
}

}  // namespace
}  // namespace cxrl
