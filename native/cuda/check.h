// Error checks shared by the CUDA backend's host code: a failed runtime call becomes a
// std::runtime_error naming the call, and a machine without a usable device says so in words.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace cxrl {

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

}  // namespace cxrl
