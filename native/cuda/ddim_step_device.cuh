// Internal to the CUDA backend: the fused DDIM step's device-side argument block, its kernels, and
// device-buffer ownership, shared by the host entry points (rl_kernels.cu) and the step benchmark
// (native/bench/ddim_step_bench.cu).
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "rl/ddim_step.h"

namespace cxrl {

constexpr int kThreads = 256;

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

inline void require_device() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    throw std::runtime_error("CUDA is not usable on this machine (no device or driver); use the CPU backend");
  }
}

struct DeviceStep {
  const float *x, *m, *mu_in, *noise, *prev_in;
  float w;
  const StepCoefficients* coef;
  PredictionType kind;
  bool clip, use_clipped;
  double r;
  int source;  // NoiseSource
  unsigned long long seed, stream_offset;
  long long N, chunks;
};

// Owns device copies of a step's inputs.
struct DeviceBuffers {
  std::vector<void*> ptrs;
  ~DeviceBuffers() {
    for (void* p : ptrs) cudaFree(p);
  }
  template <typename T>
  T* alloc(size_t n) {
    void* p = nullptr;
    check(cudaMalloc(&p, n * sizeof(T) + 1), "cudaMalloc");
    ptrs.push_back(p);
    return (T*)p;
  }
  template <typename T>
  T* upload(const T* host, size_t n) {
    if (!host) return nullptr;
    T* d = alloc<T>(n);
    check(cudaMemcpy(d, host, n * sizeof(T), cudaMemcpyHostToDevice), "upload");
    return d;
  }
};

__global__ void ddim_step_kernel(DeviceStep s, float* prev_out, double* partial);
__global__ void finish_log_prob(const double* partial, const StepCoefficients* coef, long long B, long long chunks,
                                long long N, double* lp);

}  // namespace cxrl
