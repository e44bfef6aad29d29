// The emulated GPU (tests/cuda_emulation.h): launches. Blocks run in order; a block's threads as
// fibers or pooled threads (block_threads.h), or one after another for kernels without barriers;
// the dynamic shared buffer; the barriers kernels call; CXRL_LAUNCH for host code.
#pragma once
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "cuda/elementwise.cuh"
#include "tests/emulated_cuda/block_threads.h"

namespace cxrl::emulation {

constexpr size_t kDynamicSharedBytes = 232448;  // an H100 / H200 block's opt-in limit (227 KiB)
inline unsigned char* dynamic_shared() {
  alignas(128) static unsigned char buffer[kDynamicSharedBytes];
  return buffer;
}

enum class Threads { kConcurrent, kSequential };

// Runs body() as every thread of every block of the grid, blocks in order; the whole dynamic shared
// buffer is NaN-filled before the first block, and the launch's smem_bytes of it again before each
// later one (all that a block may write), so a read of a value no thread of the block wrote, or of
// bytes past the launch's request, sees NaN. Concurrent threads walk the blocks together (a block
// barrier between blocks) and come from a pool that every launch reuses. Throws
// std::runtime_error with the first broken rule.
inline void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body,
                   Threads mode = Threads::kConcurrent) {
  // One launch at a time, as on one stream: the shared memory, the block state and the fibers are
  // the emulated GPU's, not a launching thread's (the addon launches from its engine thread and
  // from JavaScript's).
  static std::mutex one_launch_at_a_time;
  std::lock_guard<std::mutex> lock(one_launch_at_a_time);
  if (smem_bytes > kDynamicSharedBytes)
    throw std::runtime_error("emulated launch: " + std::to_string(smem_bytes) + " bytes of shared memory requested, " +
                             std::to_string(kDynamicSharedBytes) + " emulated");
  if (block.y != 1 || block.z != 1 || block.x % 32 != 0 || block.x > 1024)
    throw std::runtime_error("emulated launch: blocks must be 1 to 32 whole warps along x");
  first_error().clear();
  blockDim = block;
  gridDim = grid;
  const auto fill_shared_bytes = [](size_t bytes) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (size_t i = 0; i + sizeof(float) <= bytes; i += sizeof(float))
      std::memcpy(dynamic_shared() + i, &nan, sizeof(float));
  };
  fill_shared_bytes(kDynamicSharedBytes);
  Block b((int)block.x, mode == Threads::kSequential);
  // Before each block: the shared buffer refilled, and no asynchronous copy left from the last one.
  const auto fill_shared = [&] {
    b.end_async_copies("asynchronous copies to shared memory that their block never waited for");
    fill_shared_bytes(smem_bytes);
  };
  const auto for_each_block = [&](const std::function<void(dim3)>& f) {
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) f(dim3(bx, by, bz));
  };
  current_block() = &b;
  if (mode == Threads::kSequential) {
    for_each_block([&](dim3 at) {
      fill_shared();
      for (unsigned t = 0; t < block.x; ++t) {
        threadIdx = dim3(t);
        blockIdx = at;
        body();
      }
    });
  } else {
#ifdef CXRL_EMULATION_FIBERS
    for_each_block([&](dim3 at) {
      fill_shared();
      FiberScheduler::get().run((int)block.x, at, body);
    });
#else
    WorkerPool::get().run((int)block.x, [&](int t) {
      threadIdx = dim3((unsigned)t);
      for_each_block([&](dim3 at) {
        if (t == 0) fill_shared();
        b.all.arrive_and_wait();  // shared memory refilled; the previous block is done with it
        blockIdx = at;
        body();
        b.all.arrive_and_wait();
      });
    });
#endif
  }
  b.end_async_copies("asynchronous copies to shared memory that their block never waited for");
  current_block() = nullptr;
  if (!first_error().empty()) throw std::runtime_error("emulated kernel: " + first_error());
}

// A barrier in a kernel launched with Threads::kSequential cannot be honoured: reported, skipped.
inline bool can_synchronise() {
  if (!current_block()->sequential) return true;
  report("a barrier or warp collective in a kernel launched with Threads::kSequential");
  return false;
}
inline void warp_barrier() {
  if (!can_synchronise()) return;
#ifdef CXRL_EMULATION_FIBERS
  FiberScheduler::get().warp_barrier();
#else
  current_block()->warps[threadIdx.x / 32]->arrive_and_wait();
#endif
}
inline void block_barrier() {
  if (!can_synchronise()) return;
#ifdef CXRL_EMULATION_FIBERS
  FiberScheduler::get().block_barrier();
#else
  current_block()->all.arrive_and_wait();
#endif
}
inline int lane() { return (int)(threadIdx.x % 32); }

// A barrier-free grid-stride kernel over n values, with launch_elementwise's geometry
// (cuda/elementwise_launch.cuh), its threads one after another: for tests that call the kernel
// directly.
inline void launch_elementwise(int64_t n, const std::function<void()>& body) {
  launch(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, body, Threads::kSequential);
}
// Likewise over planes, with launch_planes's geometry (plane_grid).
inline void launch_planes(int64_t planes, int64_t per_plane, const std::function<void()>& body) {
  launch(plane_grid(planes, per_plane), dim3(kElementwiseThreads), 0, body, Threads::kSequential);
}

// Host launches (cuda/launch.cuh's CXRL_LAUNCH, defined here first): a launch that breaks a rule
// leaves its message in launch_error(), which the emulated cudaGetLastError turns into a launch
// failure, as a faulting kernel does on a GPU.
inline std::string& launch_error() {
  static std::string e;
  return e;
}
inline std::string& last_error_message() {
  static std::string m;
  return m;
}
template <typename... KernelArgs>
struct Launch {
  void (*kernel)(KernelArgs...);
  dim3 grid, block;
  size_t smem;
  Threads mode;
  template <typename... Args>
  void operator()(Args... args) const {
    try {
      launch(
          grid, block, smem, [&] { kernel(args...); }, mode);
    } catch (const std::exception& e) {
      if (launch_error().empty()) launch_error() = e.what();
    }
  }
};
template <typename... KernelArgs>
Launch<KernelArgs...> make_launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, Threads mode) {
  return {kernel, grid, block, smem, mode};
}

}  // namespace cxrl::emulation

#define CXRL_LAUNCH(kernel, grid, block, smem) \
  ::cxrl::emulation::make_launch(kernel, dim3(grid), dim3(block), smem, ::cxrl::emulation::Threads::kConcurrent)
#define CXRL_LAUNCH_BARRIER_FREE(kernel, grid, block, smem) \
  ::cxrl::emulation::make_launch(kernel, dim3(grid), dim3(block), smem, ::cxrl::emulation::Threads::kSequential)
