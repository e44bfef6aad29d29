// The CUDA backend's DeviceCollectives (dist/collective.h): NCCL.
#pragma once
#include "dist/collective.h"

namespace cxrl {

const DeviceCollectives& cuda_collectives();

}  // namespace cxrl
