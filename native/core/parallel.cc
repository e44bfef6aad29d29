#include "core/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace cxrl {
namespace {

thread_local bool tl_inside_worker = false;

int default_threads() {
  if (const char* env = std::getenv("CXRL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

// Workers wait for a generation counter to change, run their share, and report done.
class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return n_threads_; }

  void resize(int n) {
    stop();
    n_threads_ = std::max(1, n);
    quit_ = false;
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { loop(i); });
  }

  void run(int n_tasks, const std::function<void(int)>& task) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> lk(m_);
      task_ = &task;
      n_tasks_ = n_tasks;
      next_ = 0;
      pending_ = n_tasks;
      ++generation_;
    }
    cv_.notify_all();
    work_until_empty();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [this] { return pending_ == 0; });
    task_ = nullptr;
  }

 private:
  void work_until_empty() {
    bool was_inside = tl_inside_worker;
    tl_inside_worker = true;
    for (;;) {
      int idx;
      {
        std::lock_guard<std::mutex> lk(m_);
        if (next_ >= n_tasks_) break;
        idx = next_++;
      }
      (*task_)(idx);
      std::lock_guard<std::mutex> lk(m_);
      if (--pending_ == 0) done_cv_.notify_all();
    }
    tl_inside_worker = was_inside;
  }

  void loop(int) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
      }
      work_until_empty();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex m_, run_mutex_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* task_ = nullptr;
  int n_tasks_ = 0, next_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool quit_ = false;
};

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) { pool().resize(n > 0 ? n : default_threads()); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_chunks = (n + grain - 1) / grain;
  int threads = pool().size();
  if (tl_inside_worker || threads == 1 || max_chunks == 1) {
    fn(0, n);
    return;
  }
  int chunks = static_cast<int>(std::min<int64_t>(max_chunks, threads * 4));
  int64_t per = (n + chunks - 1) / chunks;
  pool().run(chunks, [&](int c) {
    int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

std::vector<double> parallel_reduce(int64_t n, int64_t grain, size_t width,
                                    const std::function<void(int64_t, int64_t, std::vector<double>&)>& fn) {
  grain = std::max<int64_t>(1, grain);
  // Fixed chunking (independent of scheduling): at most 4 chunks per thread.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>((n + grain - 1) / grain, num_threads() * 4));
  const int64_t per = (n + chunks - 1) / chunks;
  std::vector<std::vector<double>> partial(chunks, std::vector<double>(width, 0.0));
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t b = c * per, e = std::min(n, b + per);
      if (b < e) fn(b, e, partial[c]);
    }
  });
  std::vector<double> total(width, 0.0);
  for (const auto& p : partial)
    for (size_t i = 0; i < width; ++i) total[i] += p[i];
  return total;
}

}  // namespace cxrl
