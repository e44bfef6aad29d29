// The emulated GPU (tests/cuda_emulation.h): how one block's threads run. Fibers (ucontext) on the
// launching thread, or, under AddressSanitizer (which does not follow swapcontext's stack
// switches), pooled OS threads with futex barriers; and the first rule a kernel broke.
#pragma once
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(CXRL_EMULATION_FIBERS)
#include <ucontext.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

}  // namespace cxrl::emulation
