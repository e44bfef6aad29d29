// Linked instead of device.cu when the build has no CUDA compiler (and by binding.gyp).
#include "cuda/device.h"

namespace cxrl {

CudaStatus cuda_status() {
  CudaStatus s;
  s.reason = "this build of the addon was compiled without CUDA (no nvcc at build time)";
  return s;
}

}  // namespace cxrl
