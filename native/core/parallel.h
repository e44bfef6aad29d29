// A persistent worker pool and parallel_for over index ranges.
// Nested calls (from inside a worker) run inline, so ops may call each other freely.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace cxrl {

int num_threads();
// n <= 0 resets to the default: CXRL_NUM_THREADS, else the hardware concurrency.
void set_num_threads(int n);

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks hold at least `grain` items.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Deterministic parallel sum of per-chunk vectors: fn(begin, end, partial) fills a zeroed
// partial of `width` doubles for its chunk; partials are then added in chunk order, so the result
// does not depend on which thread finished first (bitwise reproducible for a given thread count).
std::vector<double> parallel_reduce(int64_t n, int64_t grain, size_t width,
                                    const std::function<void(int64_t, int64_t, std::vector<double>&)>& fn);

}  // namespace cxrl
