// A CPU stand-in for the CUDA names a kernel file uses, so that its kernels run in the CPU test suite
// (and in CI, which has no GPU). Each thread of a block is a std::thread and blocks run one after
// another; __syncthreads and __syncwarp are barriers; __shfl_xor_sync exchanges through one slot per
// thread; a WMMA fragment holds the whole 16 x 16 tile (lane 0 loads, multiplies and stores it for
// the warp; each *_sync call converges the warp as the real ones do), and
// loads and stores check the real API's rules: 32-byte aligned pointers, ldm a multiple of 16 bytes.
// Shared memory: static __shared__ arrays become function statics (one block runs at a time), and
// the dynamic buffer (CXRL_DYNAMIC_SHARED, cuda/shared_memory.cuh) is one 227 KiB buffer, filled
// with NaNs before each block so that a read of shared memory nothing wrote shows in the results.
// Kernels without barriers (grid-stride elementwise ones) may run their threads one after another
// in the calling thread (Threads::kSequential), much faster; a barrier there is reported.
//
// What it checks: the kernels' arithmetic, indexing, tiling, masking and synchronisation. What it
// cannot: timing, occupancy, register limits, or a hardware behaviour the documentation does not
// describe.
#pragma once
#define CXRL_CUDA_EMULATION 1
// Fibers (ucontext) run a block's threads unless AddressSanitizer is on, which does not follow
// swapcontext's stack switches; there each GPU thread is an OS thread with futex barriers.
#if !defined(__SANITIZE_ADDRESS__)
#define CXRL_EMULATION_FIBERS 1
#include <ucontext.h>
#endif

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define CXRL_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(cxrl::emulation::dynamic_shared())

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace cxrl::emulation {

// A reusable barrier for n threads on a Linux futex: the last arrival bumps the generation and wakes
// the others, which sleep in the kernel until then (no mutex to fight over on wake-up).
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void arrive_and_wait() {
    const int gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      syscall(SYS_futex, reinterpret_cast<int*>(&generation_), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (generation_.load(std::memory_order_acquire) == gen) {
      const timespec wait{1, 0};
      syscall(SYS_futex, reinterpret_cast<int*>(&generation_), FUTEX_WAIT_PRIVATE, gen, &wait, nullptr, 0);
      if (std::chrono::steady_clock::now() > deadline) {
        // Some thread never arrives: a barrier inside divergent code. Stop rather than hang the suite.
        std::fprintf(stderr, "emulated GPU: a barrier of %d threads waited 120 s (a barrier in divergent code?)\n", n_);
        std::abort();
      }
    }
  }

 private:
  const int n_;
  std::atomic<int> arrived_{0}, generation_{0};
  static_assert(sizeof(std::atomic<int>) == sizeof(int), "the futex word is the atomic's int");
};

inline void futex_wait(std::atomic<int>* word, int expected) {
  const timespec wait{1, 0};  // re-check at least every second
  syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAIT_PRIVATE, expected, &wait, nullptr, 0);
}
inline void futex_wake_all(std::atomic<int>* word) {
  syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}

// The CPU threads that play a block's GPU threads, created once and reused by every launch.
class WorkerPool {
 public:
  static WorkerPool& get() {
    static WorkerPool* pool = new WorkerPool;  // never destroyed: its threads live as long as the process
    return *pool;
  }
  // Runs work(t) for t in [0, n) on n pool threads; returns when every one has finished.
  void run(int n, const std::function<void(int)>& work) {
    std::lock_guard<std::mutex> one_launch_at_a_time(launch_mutex_);
    while ((int)threads_.size() < n) {
      const int t = (int)threads_.size(), seen = generation_.load();
      std::thread([this, t, seen] { loop(t, seen); }).detach();
      threads_.push_back(t);
    }
    work_ = &work;
    active_ = n;
    remaining_.store(n);
    generation_.fetch_add(1);
    futex_wake_all(&generation_);
    for (int r; (r = remaining_.load()) != 0;) futex_wait(&remaining_, r);
  }

 private:
  void loop(int t, int seen) {
    for (;;) {
      int g;
      while ((g = generation_.load()) == seen) futex_wait(&generation_, seen);
      seen = g;
      if (t >= active_) continue;
      (*work_)(t);
      if (remaining_.fetch_sub(1) == 1) futex_wake_all(&remaining_);
    }
  }
  std::mutex launch_mutex_;
  std::vector<int> threads_;
  const std::function<void(int)>* work_ = nullptr;
  int active_ = 0;
  std::atomic<int> generation_{0}, remaining_{0};
};

// The block being run: its barriers and the shuffle slots (doubles hold every type shuffled).
struct Block {
  Block(int threads, bool sequential_) : sequential(sequential_), all(threads), shuffle(threads) {
    for (int w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<Barrier>(32));
  }
  bool sequential;
  Barrier all;
  std::vector<std::unique_ptr<Barrier>> warps;
  std::vector<double> shuffle;
};
inline Block*& current_block() {
  static Block* b = nullptr;
  return b;
}

// The first rule a kernel broke (alignment, a block size the emulation cannot run), reported by launch.
inline std::string& first_error() {
  static std::string e;
  return e;
}
inline std::mutex& error_mutex() {
  static std::mutex m;
  return m;
}
inline void report(const std::string& what) {
  std::lock_guard<std::mutex> lock(error_mutex());
  if (first_error().empty()) first_error() = what;
}

#ifdef CXRL_EMULATION_FIBERS
// One block's GPU threads as fibers (ucontext) on the launching thread: each runs until it waits at
// a barrier or finishes, and a barrier releases its waiters once every live thread of its scope
// (block or warp) has arrived, so a barrier costs two context switches per thread instead of an
// OS thread wake-up. Deterministic: threads run in index order between barriers.
class FiberScheduler {
 public:
  static FiberScheduler& get() {
    static FiberScheduler s;
    return s;
  }
  // Runs work() as threads [0, n) of block `at`; a barrier no thread can pass is reported.
  void run(int n, dim3 at, const std::function<void()>& work) {
    while ((int)stacks_.size() < n) stacks_.emplace_back(new char[kStackBytes]);
    contexts_.resize(n);
    state_.assign(n, kRunnable);
    warp_arrived_.assign((n + 31) / 32, 0);
    warp_live_.assign((n + 31) / 32, 0);
    for (int t = 0; t < n; ++t) ++warp_live_[t / 32];
    work_ = &work;
    live_ = n;
    block_arrived_ = 0;
    for (int t = 0; t < n; ++t) {
      getcontext(&contexts_[t]);
      contexts_[t].uc_stack.ss_sp = stacks_[t].get();
      contexts_[t].uc_stack.ss_size = kStackBytes;
      contexts_[t].uc_link = &scheduler_;
      makecontext(&contexts_[t], reinterpret_cast<void (*)()>(&FiberScheduler::start), 1, t);
    }
    for (int finished = 0; finished < n;) {
      bool ran = false;
      for (int t = 0; t < n; ++t) {
        if (state_[t] != kRunnable) continue;
        ran = true;
        current_ = t;
        threadIdx = dim3((unsigned)t);
        blockIdx = at;
        swapcontext(&scheduler_, &contexts_[t]);
        if (state_[t] == kDone) ++finished;
      }
      if (!ran) {
        report("a barrier that not every thread of its block or warp reaches (a barrier in divergent code)");
        return;  // the waiting fibers are abandoned; their stacks are reused by the next launch
      }
    }
  }
  void block_barrier() {
    if (++block_arrived_ == live_) return release_block();
    wait(kAtBlockBarrier);
  }
  void warp_barrier() {
    const int w = current_ / 32;
    if (++warp_arrived_[w] == warp_live_[w]) return release_warp(w);
    wait(kAtWarpBarrier);
  }

 private:
  enum State { kRunnable, kAtBlockBarrier, kAtWarpBarrier, kDone };
  static constexpr size_t kStackBytes = 256 << 10;

  static void start(int t) {
    FiberScheduler& s = get();
    (*s.work_)();
    s.state_[t] = kDone;  // an exited thread no longer holds back a barrier
    --s.live_;
    const int w = t / 32;
    --s.warp_live_[w];
    if (s.block_arrived_ > 0 && s.block_arrived_ == s.live_) s.release_block();
    if (s.warp_arrived_[w] > 0 && s.warp_arrived_[w] == s.warp_live_[w]) s.release_warp(w);
  }  // returns to scheduler_ (uc_link)
  void wait(State at) {
    const int t = current_;
    state_[t] = at;
    swapcontext(&contexts_[t], &scheduler_);
  }
  void release_block() {
    block_arrived_ = 0;
    for (State& st : state_)
      if (st == kAtBlockBarrier) st = kRunnable;
  }
  void release_warp(int w) {
    warp_arrived_[w] = 0;
    for (int t = w * 32; t < std::min<int>((w + 1) * 32, (int)state_.size()); ++t)
      if (state_[t] == kAtWarpBarrier) state_[t] = kRunnable;
  }

  std::vector<std::unique_ptr<char[]>> stacks_;
  std::vector<ucontext_t> contexts_;
  std::vector<State> state_;
  std::vector<int> warp_arrived_, warp_live_;
  ucontext_t scheduler_;
  const std::function<void()>* work_ = nullptr;
  int current_ = 0, live_ = 0, block_arrived_ = 0;
};
#endif

constexpr size_t kDynamicSharedBytes = 232448;  // an H100 / H200 block's opt-in limit (227 KiB)
inline unsigned char* dynamic_shared() {
  alignas(128) static unsigned char buffer[kDynamicSharedBytes];
  return buffer;
}

enum class Threads { kConcurrent, kSequential };

// Runs body() as every thread of every block of the grid, blocks in order; the dynamic shared
// buffer is NaN-filled before each block. Concurrent threads walk the blocks together (a block
// barrier between blocks) and come from a pool that every launch reuses. Throws
// std::runtime_error with the first broken rule.
inline void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body,
                   Threads mode = Threads::kConcurrent) {
  if (smem_bytes > kDynamicSharedBytes)
    throw std::runtime_error("emulated launch: " + std::to_string(smem_bytes) + " bytes of shared memory requested, " +
                             std::to_string(kDynamicSharedBytes) + " emulated");
  if (block.y != 1 || block.z != 1 || block.x % 32 != 0 || block.x > 1024)
    throw std::runtime_error("emulated launch: blocks must be 1 to 32 whole warps along x");
  first_error().clear();
  blockDim = block;
  gridDim = grid;
  const auto fill_shared = [] {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (size_t i = 0; i + sizeof(float) <= kDynamicSharedBytes; i += sizeof(float))
      std::memcpy(dynamic_shared() + i, &nan, sizeof(float));
  };
  const auto for_each_block = [&](const std::function<void(dim3)>& f) {
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) f(dim3(bx, by, bz));
  };
  Block b((int)block.x, mode == Threads::kSequential);
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

inline void __syncthreads() { cxrl::emulation::block_barrier(); }
inline void __syncwarp(unsigned = 0xffffffffu) { cxrl::emulation::warp_barrier(); }
namespace cxrl::emulation {
// The value of lane source_lane(lane) of this thread's warp (every lane takes part).
template <typename T, typename SourceLane>
T shuffle(T v, SourceLane source_lane) {
  auto& slots = current_block()->shuffle;
  const int t = (int)threadIdx.x, base = t - t % 32, src = source_lane(t % 32);
  slots[t] = (double)v;
  warp_barrier();
  const T other = (T)slots[base + (src < 32 ? src : t % 32)];  // past the warp: its own value
  warp_barrier();
  return other;
}
}  // namespace cxrl::emulation
template <typename T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  return cxrl::emulation::shuffle(v, [&](int lane) { return lane ^ lane_mask; });
}
template <typename T>
T __shfl_down_sync(unsigned, T v, unsigned delta) {
  return cxrl::emulation::shuffle(v, [&](int lane) { return lane + (int)delta; });
}
inline float atomicAdd(float* address, float v) {
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  const float old = *address;
  *address = old + v;
  return old;
}
inline float __expf(float x) { return std::exp(x); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
template <typename T>
T min(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
T max(T a, T b) {
  return a < b ? b : a;
}

// bfloat16: the top half of a float, rounded to nearest even.
struct __nv_bfloat16 {
  uint16_t bits;
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return {0x7fc0};
  u += 0x7fffu + ((u >> 16) & 1u);
  return {(uint16_t)(u >> 16)};
}
inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t u = (uint32_t)h.bits << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

// Only the 16 x 16 x 16 shape. Lane 0's fragment holds the whole tile and does the warp's work (the
// other lanes' copies are never read back: only lane 0 stores).
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulation has the 16x16x16 shape only");
  float x[256];
};

namespace detail {
// False (and reported) when the access breaks the API's rules; the access is then not made.
inline bool check_access(const void* p, unsigned ldm, size_t elem_bytes, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) {
    cxrl::emulation::report(std::string(what) + ": pointer not 32-byte aligned");
    return false;
  }
  if ((ldm * elem_bytes) % 16 != 0) {
    cxrl::emulation::report(std::string(what) + ": ldm not a multiple of 16 bytes");
    return false;
  }
  return true;
}
inline float value(float v) { return v; }
inline float value(__nv_bfloat16 v) { return __bfloat162float(v); }
}  // namespace detail

template <typename Use, typename T, typename Layout>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout>& f, float v) {
  if (cxrl::emulation::lane() == 0)
    for (float& e : f.x) e = v;
}

// matrix_a / matrix_b: element (i, j) of the tile at p[i ldm + j] (row_major) or p[j ldm + i] (col_major).
template <typename Use, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout>& f, const __nv_bfloat16* p, unsigned ldm) {
  cxrl::emulation::warp_barrier();
  constexpr bool col = std::is_same<Layout, col_major>::value;
  if (cxrl::emulation::lane() == 0 && detail::check_access(p, ldm, sizeof(__nv_bfloat16), "load_matrix_sync"))
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) f.x[i * 16 + j] = detail::value(col ? p[j * ldm + i] : p[i * ldm + j]);
  cxrl::emulation::warp_barrier();
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm, layout_t l) {
  cxrl::emulation::warp_barrier();
  if (cxrl::emulation::lane() == 0 && detail::check_access(p, ldm, sizeof(float), "load_matrix_sync (accumulator)"))
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) f.x[i * 16 + j] = l == mem_row_major ? p[i * ldm + j] : p[j * ldm + i];
  cxrl::emulation::warp_barrier();
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t l) {
  cxrl::emulation::warp_barrier();
  if (cxrl::emulation::lane() == 0 && detail::check_access(p, ldm, sizeof(float), "store_matrix_sync"))
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) (l == mem_row_major ? p[i * ldm + j] : p[j * ldm + i]) = f.x[i * 16 + j];
  cxrl::emulation::warp_barrier();
}

// d = a b + c, accumulated in fp32 (d may be c).
template <typename LayoutA, typename LayoutB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
              const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LayoutA>& a,
              const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LayoutB>& b,
              const fragment<accumulator, 16, 16, 16, float>& c) {
  if (cxrl::emulation::lane() != 0) return;
  float out[256];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float acc = c.x[i * 16 + j];
      for (int k = 0; k < 16; ++k) acc += a.x[i * 16 + k] * b.x[k * 16 + j];
      out[i * 16 + j] = acc;
    }
  std::memcpy(d.x, out, sizeof out);
}

}  // namespace nvcuda::wmma
