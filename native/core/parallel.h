// A persistent worker pool and parallel_for over index ranges.
// Nested calls (from inside a worker) run inline, so ops may call each other freely.
#pragma once
#include <cstdint>
#include <functional>

namespace cxrl {

int num_threads();
// n <= 0 resets to the default: CXRL_NUM_THREADS, else the hardware concurrency.
void set_num_threads(int n);

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks hold at least `grain` items.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace cxrl
