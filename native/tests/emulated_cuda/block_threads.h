// The emulated GPU (tests/cuda_emulation.h): how one block's threads run. Fibers on the launching
// thread (their own stack switch on x86-64, ucontext elsewhere), or, under AddressSanitizer (which
// does not follow stack switches), pooled OS threads with futex barriers; and the first rule a
// kernel broke.
#pragma once
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(CXRL_EMULATION_FIBERS) && !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
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

// An asynchronous copy to shared memory (cuda_pipeline.h) not yet landed: at most 16 bytes.
struct AsyncCopy {
  void* dst;
  size_t size;
  unsigned char bytes[16];
};
struct ThreadAsyncCopies {
  std::vector<AsyncCopy> open;                    // issued since the last commit
  std::vector<std::vector<AsyncCopy>> committed;  // groups, oldest first
  bool empty() const {                            // no copy pending (a group committed empty holds none)
    for (const std::vector<AsyncCopy>& g : committed)
      if (!g.empty()) return false;
    return open.empty();
  }
};

// The block being run: its barriers, the shuffle slots (doubles hold every type shuffled), and each
// thread's asynchronous copies.
struct Block {
  Block(int threads, bool sequential_)
      : sequential(sequential_), all(threads), shuffle(threads), async_copies(threads) {
    for (int w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<Barrier>(32));
  }
  bool sequential;
  Barrier all;
  std::vector<std::unique_ptr<Barrier>> warps;
  std::vector<double> shuffle;
  std::vector<ThreadAsyncCopies> async_copies;
  // Reports copies that a finished block never waited for, and forgets them.
  void end_async_copies(const char* report_as);
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

inline void Block::end_async_copies(const char* report_as) {
  for (ThreadAsyncCopies& t : async_copies) {
    if (!t.empty()) report(report_as);
    t = ThreadAsyncCopies();
  }
}

#ifdef CXRL_EMULATION_FIBERS
#if defined(__x86_64__)
// Stack switching without a system call: swapcontext saves and restores the signal mask with a
// system call each way, which was 90% of the emulator's time (perf). cxrl_emulation_switch pushes
// the callee-saved registers of the System V x86-64 ABI, stores the stack pointer in *from, loads
// `to` and pops the other context's registers; cxrl_emulation_start is where a new stack begins:
// it calls entry(arg) from rbx and r12. Weak: every file that includes this defines them.
extern "C" void cxrl_emulation_switch(void** from, void* to);
asm(R"(
  .text
  .weak cxrl_emulation_switch
  .type cxrl_emulation_switch, @function
cxrl_emulation_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cxrl_emulation_switch, .-cxrl_emulation_switch
  .weak cxrl_emulation_start
  .type cxrl_emulation_start, @function
cxrl_emulation_start:
  movq %r12, %rdi
  callq *%rbx
  ud2
  .size cxrl_emulation_start, .-cxrl_emulation_start
)");
extern "C" void cxrl_emulation_start();
#endif

// A context to run on its own stack, and the switch between two contexts.
class Context {
 public:
  // The next switch to this context calls entry(arg) on the given stack (entry must never return).
  void start(char* stack, size_t bytes, void (*entry)(int), int arg) {
#if defined(__x86_64__)
    // The frame cxrl_emulation_switch pops: r15, r14, r13, r12 = arg, rbx = entry, rbp, then the
    // return address cxrl_emulation_start, at the 16-byte aligned top (so the call it makes finds
    // the stack aligned as the ABI wants).
    auto* top = reinterpret_cast<void**>((reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15));
    void** frame = top - 7;
    frame[0] = frame[1] = frame[2] = frame[5] = nullptr;
    frame[3] = reinterpret_cast<void*>((intptr_t)arg);
    frame[4] = reinterpret_cast<void*>(entry);
    frame[6] = reinterpret_cast<void*>(&cxrl_emulation_start);
    sp_ = frame;
#else
    getcontext(&uc_);
    uc_.uc_stack.ss_sp = stack;
    uc_.uc_stack.ss_size = bytes;
    uc_.uc_link = nullptr;
    makecontext(&uc_, reinterpret_cast<void (*)()>(entry), 1, arg);
#endif
  }
  // Saves the running context into from and resumes to.
  static void swap(Context& from, Context& to) {
#if defined(__x86_64__)
    cxrl_emulation_switch(&from.sp_, to.sp_);
#else
    swapcontext(&from.uc_, &to.uc_);
#endif
  }

 private:
#if defined(__x86_64__)
  void* sp_ = nullptr;
#else
  ucontext_t uc_;
#endif
};

// One block's GPU threads as fibers on the launching thread: each runs until it waits at a barrier
// or finishes, and a barrier releases its waiters once every live thread of its scope (block or
// warp) has arrived, so a barrier costs two stack switches per thread instead of an OS thread
// wake-up. Deterministic: threads run in index order between barriers. A fiber lives across
// launches: after its thread's work it parks, and the next block resumes it for the next work.
class FiberScheduler {
 public:
  static FiberScheduler& get() {
    static FiberScheduler s;
    return s;
  }
  // Runs work() as threads [0, n) of block `at`; a barrier no thread can pass is reported.
  void run(int n, dim3 at, const std::function<void()>& work) {
    while ((int)fibers_.size() < n) {
      fibers_.emplace_back(new Fiber);
      fibers_.back()->parked = false;
    }
    for (int t = 0; t < n; ++t)  // a fiber abandoned at a barrier (see below) starts afresh
      if (!fibers_[t]->parked)
        fibers_[t]->context.start(fibers_[t]->stack.get(), kStackBytes, &FiberScheduler::main, t);
    state_.assign(n, kRunnable);
    warp_arrived_.assign((n + 31) / 32, 0);
    warp_live_.assign((n + 31) / 32, 0);
    for (int t = 0; t < n; ++t) ++warp_live_[t / 32];
    work_ = &work;
    live_ = n;
    block_arrived_ = 0;
    for (int finished = 0; finished < n;) {
      bool ran = false;
      for (int t = 0; t < n; ++t) {
        if (state_[t] != kRunnable) continue;
        ran = true;
        current_ = t;
        threadIdx = dim3((unsigned)t);
        blockIdx = at;
        Context::swap(scheduler_, fibers_[t]->context);
        if (state_[t] == kDone) ++finished;
      }
      if (!ran) {
        report("a barrier that not every thread of its block or warp reaches (a barrier in divergent code)");
        for (int t = 0; t < n; ++t)
          if (state_[t] != kDone) fibers_[t]->parked = false;  // their frames are dropped, not unwound
        return;
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
  struct Fiber {
    std::unique_ptr<char[]> stack{new char[kStackBytes]};
    Context context;
    bool parked = false;  // after a thread's work, waiting for the next
  };

  // A fiber's whole life: thread t's work, once per block it is resumed for.
  static void main(int t) {
    for (;;) {
      FiberScheduler& s = get();
      s.fibers_[t]->parked = false;
      (*s.work_)();
      s.state_[t] = kDone;  // an exited thread no longer holds back a barrier
      --s.live_;
      const int w = t / 32;
      --s.warp_live_[w];
      if (s.block_arrived_ > 0 && s.block_arrived_ == s.live_) s.release_block();
      if (s.warp_arrived_[w] > 0 && s.warp_arrived_[w] == s.warp_live_[w]) s.release_warp(w);
      s.fibers_[t]->parked = true;
      Context::swap(s.fibers_[t]->context, s.scheduler_);
    }
  }
  void wait(State at) {
    const int t = current_;
    state_[t] = at;
    Context::swap(fibers_[t]->context, scheduler_);
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

  std::vector<std::unique_ptr<Fiber>> fibers_;
  std::vector<State> state_;
  std::vector<int> warp_arrived_, warp_live_;
  Context scheduler_;
  const std::function<void()>* work_ = nullptr;
  int current_ = 0, live_ = 0, block_arrived_ = 0;
};
#endif

}  // namespace cxrl::emulation
