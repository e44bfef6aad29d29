// Benchmarks of the fused DDIM step (bench/step-bench.ts), kept out of the production kernels:
// the fused kernel against the unfused passes a framework would run, and a threaded copy of the
// same bytes as the memory-bandwidth yardstick.
#pragma once
#include <cstdint>

#include "rl/ddim_step.h"

namespace cxrl {

struct StepBenchConfig {
  int64_t batch = 8, per_sample = 4096;
  bool guidance = true;
  NoiseSource source = NoiseSource::kSeeded;
  int iters = 10;
  int64_t device_chunk = 0;      // CUDA: elements per block (0: the kernel's default)
  int device_blocks_per_sm = 0;  // CUDA: the kernel's register budget, 3 or 4 (0: the default)
};

struct StepTiming {
  double fused_seconds = 0, unfused_seconds = 0, copy_seconds = 0, bytes_moved = 0;
};

// Bytes one step reads and writes: x_t, one or two model outputs, the given noise or x_prev, and
// x_prev out (the compulsory traffic both benchmarks compare with a copy of the same size).
double step_bytes(const StepBenchConfig& c);

StepTiming bench_ddim_step_cpu(const StepBenchConfig& c);
// On device-resident buffers, timed with CUDA events; unfused_seconds stays 0. Throws without CUDA.
StepTiming bench_ddim_step_cuda(const StepBenchConfig& c);

}  // namespace cxrl
