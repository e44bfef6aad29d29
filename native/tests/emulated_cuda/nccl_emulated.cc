// A stand-in NCCL for the emulated CUDA build (libnccl_emulated.so, loaded through CXRL_NCCL_LIB like
// the real one): the six entry points the backend resolves (cuda/nccl_loader.cu), written from the
// NCCL API reference over host memory, for communicators of one rank, which is what the backend's
// tests ask of NCCL (a 1-rank all-reduce of the flat gradients). A communicator of more ranks is
// refused with ncclInvalidUsage, not faked. With one rank every reduction of a buffer is the buffer
// itself (sum, product, min, max and average alike): ncclAllReduce copies send to recv (nothing when
// they are the same buffer) after checking its arguments.
// So the backend's NCCL path (library search, symbol resolution, the unique id through the
// rendezvous, communicator set-up and teardown, error strings) runs in CI without NCCL or a GPU.
#include <cstddef>
#include <cstring>

namespace {

enum Result { kSuccess = 0, kInvalidArgument = 4, kInvalidUsage = 5 };
constexpr int kSum = 0, kAvg = 4;  // ncclSum, ncclProd, ncclMax, ncclMin, ncclAvg: 0 .. 4
// Bytes per value of ncclInt8, Uint8, Int32, Uint32, Int64, Uint64, Float16, Float32, Float64,
// Bfloat16 (0 .. 9).
constexpr size_t kTypeBytes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
constexpr int kTypes = sizeof kTypeBytes / sizeof kTypeBytes[0];

struct UniqueId {
  char internal[128];  // NCCL_UNIQUE_ID_BYTES
};
struct Communicator {
  int nranks, rank;
};
constexpr char kIdTag[] = "cxrl emulated nccl";

}  // namespace

extern "C" {

int ncclGetVersion(int* version) {
  if (!version) return kInvalidArgument;
  *version = 20000;  // NCCL_VERSION(2, 0, 0): the API this stand-in follows, not a real release
  return kSuccess;
}

int ncclGetUniqueId(UniqueId* id) {
  if (!id) return kInvalidArgument;
  std::memset(id->internal, 0, sizeof id->internal);
  std::memcpy(id->internal, kIdTag, sizeof kIdTag);
  return kSuccess;
}

int ncclCommInitRank(void** comm, int nranks, UniqueId id, int rank) {
  if (!comm || nranks < 1 || rank < 0 || rank >= nranks) return kInvalidArgument;
  if (std::memcmp(id.internal, kIdTag, sizeof kIdTag) != 0) return kInvalidArgument;  // not from ncclGetUniqueId
  if (nranks != 1) return kInvalidUsage;                                              // one rank only: see above
  *comm = new Communicator{nranks, rank};
  return kSuccess;
}

int ncclCommDestroy(void* comm) {
  if (!comm) return kInvalidArgument;
  delete static_cast<Communicator*>(comm);
  return kSuccess;
}

int ncclAllReduce(const void* send, void* recv, size_t count, int datatype, int op, void* comm, void* /*stream*/) {
  if (!comm || (count > 0 && (!send || !recv))) return kInvalidArgument;
  if (datatype < 0 || datatype >= kTypes) return kInvalidArgument;
  if (op < kSum || op > kAvg) return kInvalidArgument;
  if (send != recv) std::memmove(recv, send, count * kTypeBytes[datatype]);
  return kSuccess;
}

const char* ncclGetErrorString(int result) {
  switch (result) {
    case kSuccess:
      return "no error";
    case kInvalidArgument:
      return "invalid argument (emulated NCCL)";
    case kInvalidUsage:
      return "invalid usage: the emulated NCCL has communicators of one rank only";
    default:
      return "unknown result (emulated NCCL)";
  }
}

}  // extern "C"
