// The CPU's achievable fp32 peak: independent chains of vector FMAs on every thread, with no memory
// traffic, so the GFLOP/s figures of the UNet benchmarks can be stated as a fraction of what the
// cores actually deliver (the clock under load, not the nominal one).
#pragma once
#include <string>

namespace cxrl {

struct FmaPeak {
  double gflops = 0;  // all threads together
  int threads = 0;
  std::string isa;          // the widest vector FMA this CPU runs: avx512, avx2 or scalar
  int flops_per_instr = 0;  // per FMA instruction: 2 x the lanes
};

FmaPeak measure_fma_peak(int threads, double seconds);

}  // namespace cxrl
