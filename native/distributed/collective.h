// Collective operations over the ranks of a run (dist_env.h). One process: LocalCollective, where
// a sum over ranks is the value itself. Device tensors across processes: the device backend's
// library (CUDA: NCCL, cuda/nccl_collective.cu), registered as a DeviceCollectives table. CPU
// tensors across processes (MPI) are not built yet and are refused in words.
#pragma once
#include <memory>

#include "core/backend.h"
#include "core/tensor.h"
#include "distributed/dist_env.h"
#include "distributed/flat_gradients.h"

namespace cxrl {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual const char* name() const = 0;  // "local", "nccl"
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place: every rank ends with the element-wise sum over ranks.
  virtual void all_reduce_sum(Tensor* t) = 0;
};

class LocalCollective final : public Collective {
 public:
  const char* name() const override { return "local"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(Tensor*) override {}
};

struct DeviceCollectives {
  std::unique_ptr<Collective> (*open)(const DistEnv& env);
};

// The collective for tensors on `device`: one process gets LocalCollective unless
// use_device_library (a 1-rank NCCL communicator, to check the library itself).
std::unique_ptr<Collective> open_collective(const DistEnv& env, Device device, bool use_device_library = false);

// Data-parallel gradient averaging: pack, one all-reduce, unpack scaled by 1 / world_size. (A run of
// one process has nothing to average: its training step skips the call.)
void average_gradients(FlatGradients& grads, Collective& collective);

}  // namespace cxrl
