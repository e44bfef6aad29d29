#include "distributed/collective.h"

#include <stdexcept>
#include <string>

namespace cxrl {

std::unique_ptr<Collective> open_collective(const DistEnv& env, Device device, bool use_device_library) {
  if (env.world_size == 1 && !use_device_library) return std::make_unique<LocalCollective>();
  if (device == Device::kCpu)
    throw std::runtime_error("data-parallel training on CPUs (MPI) is not built yet; WORLD_SIZE=" +
                             std::to_string(env.world_size) + " needs --device cuda");
  require_backend(device);
  const DeviceCollectives* c = DeviceRegistry<DeviceCollectives>::find(device);
  if (!c) throw std::runtime_error(std::string("the ") + display_name(device) + " backend has no collectives");
  return c->open(env);
}

void average_gradients(FlatGradients& grads, Collective& collective) {
  grads.pack();
  collective.all_reduce_sum(&grads.buffer());
  grads.unpack(1.f / (float)collective.world_size());
}

}  // namespace cxrl
