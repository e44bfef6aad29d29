// Internal to the CUDA backend: the fused DDIM step's device-side argument block, its kernels, and
// device-buffer ownership, shared by the host entry points (rl_kernels.cu) and the step benchmark
// (native/bench/ddim_step_bench.cu).
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "rl/ddim_step.h"

namespace cxrl {

constexpr int kThreads = 256;

// The device cuts each sample into chunks of kDeviceStepChunk elements, one block each (four Philox
// groups of 4 per thread), far more blocks than the CPU's kStepChunk would give: the step is
// memory-bound and needs every SM busy. Chunk sums are still combined in a fixed order, so the
// device's log-prob does not depend on scheduling either (it differs from the CPU's in the last bits).
constexpr long long kDeviceStepChunk = 16 * kThreads;

struct DeviceStep {
  const float *x, *m, *mu_in, *noise, *prev_in;
  float w;
  const StepCoefficients* coef;
  PredictionType kind;
  bool clip, use_clipped;
  double r;
  int source;  // NoiseSource
  unsigned long long seed, stream_offset;
  long long N, chunk, chunks;  // elements per sample, per block (a multiple of 4), blocks per sample
};

// Sets s.chunk and s.chunks for s.N (chunk 0: kDeviceStepChunk; the benchmark tries others).
inline void set_device_step_chunks(DeviceStep& s, long long chunk = 0) {
  s.chunk = chunk > 0 ? chunk : kDeviceStepChunk;
  s.chunks = (s.N + s.chunk - 1) / s.chunk;
}

// Owns device copies of a step's inputs (from the caching allocator).
struct DeviceBuffers {
  std::vector<void*> ptrs;
  ~DeviceBuffers() {
    for (void* p : ptrs) device_release(p);
  }
  template <typename T>
  T* alloc(size_t n) {
    void* p = device_allocate(n * sizeof(T));
    ptrs.push_back(p);
    return (T*)p;
  }
  template <typename T>
  T* upload(const T* host, size_t n) {
    if (!host) return nullptr;
    T* d = alloc<T>(n);
    copy_to_device(d, host, n * sizeof(T));
    return d;
  }
};

// Resident blocks per SM the step kernel is compiled for: its register budget is 65536 / (256 x n).
// 4 (64 registers, 50% occupancy) is the most without spills under nvcc 13 for sm_90 (at 5 every
// variant spills 48-100 bytes per thread); the H200 runs of session 7 used 3 (80 registers, 37.5%).
// The benchmark times both.
constexpr int kStepBlocksPerSm = 4;

// The step over batch samples: x_prev into prev_out (or nothing when null), each block's sum of
// squared residuals into partial [batch * s.chunks], then the log-probs into lp [batch] (all device
// pointers), on the default stream. blocks_per_sm: 3 or 4 (the benchmark's comparison).
void launch_ddim_step(const DeviceStep& s, long long batch, float* prev_out, double* partial, double* lp,
                      int blocks_per_sm = kStepBlocksPerSm);

}  // namespace cxrl
