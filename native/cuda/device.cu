#include <cuda_runtime.h>

#include "cuda/device.h"

namespace cxrl {

CudaStatus cuda_status() {
  CudaStatus s;
  s.compiled = true;
  cudaRuntimeGetVersion(&s.runtime_version);
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    s.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error
    return s;
  }
  s.device_count = n;
  if (n == 0) {
    s.reason = "no CUDA device found";
    return s;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) s.device_name = prop.name;
  s.usable = true;
  return s;
}

}  // namespace cxrl
