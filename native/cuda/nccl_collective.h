// The CUDA backend's DeviceCollectives (distributed/collective.h): NCCL.
#pragma once
#include "distributed/collective.h"

namespace cxrl {

const DeviceCollectives& cuda_collectives();

}  // namespace cxrl
