// The CUDA backend's collective: an NCCL communicator over the run's ranks (one GPU per process,
// LOCAL_RANK picks it), set up through the rank-0 rendezvous (distributed/rendezvous.h) that hands out
// NCCL's unique id. Operations run on the default stream, like every kernel of the backend.
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/nccl_collective.h"
#include "cuda/nccl_loader.h"
#include "distributed/rendezvous.h"

namespace cxrl {
namespace {

class NcclCollective final : public Collective {
 public:
  explicit NcclCollective(const DistEnv& env) : env_(env) {
    std::string why;
    api_ = nccl_api(&why);
    if (!api_) throw std::runtime_error(why);
    int devices = 0;
    check(cudaGetDeviceCount(&devices), "device count");
    check(cudaSetDevice(env.local_rank % devices), "select the rank's GPU");
    NcclUniqueId id{};
    if (env.rank == 0) nccl("ncclGetUniqueId", api_->get_unique_id(&id));
    const std::vector<uint8_t> bytes = broadcast_from_rank0(
        env, std::vector<uint8_t>((const uint8_t*)id.internal, (const uint8_t*)id.internal + sizeof id.internal));
    if (bytes.size() != sizeof id.internal) throw std::runtime_error("rendezvous: NCCL id of the wrong size");
    std::memcpy(id.internal, bytes.data(), bytes.size());
    nccl("ncclCommInitRank", api_->comm_init_rank(&comm_, env.world_size, id, env.rank));
  }
  ~NcclCollective() override {
    if (comm_) api_->comm_destroy(comm_);
  }
  const char* name() const override { return "nccl"; }
  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }
  void all_reduce_sum(Tensor* t) override {
    float* p = t->mutable_device_data();
    nccl("ncclAllReduce", api_->all_reduce(p, p, (size_t)t->numel(), NcclApi::kFloat32, NcclApi::kSum, comm_, 0));
  }

 private:
  void nccl(const char* what, int rc) const {
    if (rc != 0)
      throw std::runtime_error(std::string(what) + " failed: " + api_->error_string(rc) + " (" + api_->library + ")");
  }
  DistEnv env_;
  const NcclApi* api_ = nullptr;
  NcclApi::Comm comm_ = nullptr;
};

std::unique_ptr<Collective> open_nccl(const DistEnv& env) { return std::make_unique<NcclCollective>(env); }

}  // namespace

const DeviceCollectives& cuda_collectives() {
  static const DeviceCollectives table{open_nccl};
  return table;
}

}  // namespace cxrl
