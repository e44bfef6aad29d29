// Run-time CUDA availability. Compiled against the CUDA runtime when the build had nvcc
// (CXRL_WITH_CUDA); otherwise every query reports that CUDA was not compiled in.
#pragma once
#include <string>

namespace cxrl {

struct CudaStatus {
  bool compiled = false;  // the addon contains CUDA kernels
  bool usable = false;    // a device can be used now
  int device_count = 0;
  std::string device_name;
  std::string reason;  // why not usable, in words
  int runtime_version = 0;
};

CudaStatus cuda_status();

}  // namespace cxrl
