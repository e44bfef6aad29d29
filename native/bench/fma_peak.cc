#include "bench/fma_peak.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cxrl {
namespace {

// 12 independent accumulators hide the FMA latency (4 cycles) behind two pipes. Each call runs
// `rounds` x 12 FMAs and returns a value that depends on all of them (so nothing is elided).
constexpr int kChains = 12;

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) float fma_rounds_avx512(long rounds) {
  __m512 acc[kChains];
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps((float)i);
  for (long r = 0; r < rounds; ++r)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  float s = 0;
  for (int i = 0; i < kChains; ++i) s += _mm512_reduce_add_ps(acc[i]);
  return s;
}

__attribute__((target("avx2,fma"))) float fma_rounds_avx2(long rounds) {
  __m256 acc[kChains];
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps((float)i);
  for (long r = 0; r < rounds; ++r)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  alignas(32) float lanes[8];
  float s = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    for (float v : lanes) s += v;
  }
  return s;
}
#endif

float fma_rounds_scalar(long rounds) {
  float acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = (float)i;
  for (long r = 0; r < rounds; ++r)
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * 0.999999f + 1e-6f;
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

}  // namespace

FmaPeak measure_fma_peak(int threads, double seconds) {
  FmaPeak p;
  p.threads = std::max(1, threads);
  float (*rounds_fn)(long) = fma_rounds_scalar;
  p.isa = "scalar";
  p.flops_per_instr = 2;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    rounds_fn = fma_rounds_avx512, p.isa = "avx512", p.flops_per_instr = 32;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    rounds_fn = fma_rounds_avx2, p.isa = "avx2", p.flops_per_instr = 16;
  }
#endif
  // Calibrate one batch of rounds to about 10 ms on one thread, then run batches on every thread
  // until `seconds` have passed.
  using clock = std::chrono::steady_clock;
  long batch = 1 << 16;
  for (;;) {
    const auto t0 = clock::now();
    volatile float sink = rounds_fn(batch);
    (void)sink;
    if (std::chrono::duration<double>(clock::now() - t0).count() > 0.01 || batch > (1L << 30)) break;
    batch *= 2;
  }
  std::vector<long> batches(p.threads, 0);
  std::vector<std::thread> pool;
  const auto start = clock::now();
  for (int t = 0; t < p.threads; ++t)
    pool.emplace_back([&, t] {
      while (std::chrono::duration<double>(clock::now() - start).count() < seconds) {
        volatile float sink = rounds_fn(batch);
        (void)sink;
        ++batches[t];
      }
    });
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
  double instrs = 0;
  for (long b : batches) instrs += (double)b * batch * kChains;
  p.gflops = instrs * p.flops_per_instr / elapsed / 1e9;
  return p;
}

}  // namespace cxrl
