// NCCL at run time: like cuBLAS, the build machines have no NCCL, so the few entry points used are
// declared here (from the NCCL API reference) and resolved with dlopen (CXRL_NCCL_LIB, the loader's
// search, the CUDA install, the nvidia-nccl Python wheels: cuda/library_search.h).
#pragma once
#include <cuda_runtime.h>

#include <string>

namespace cxrl {

struct NcclUniqueId {
  char internal[128];  // NCCL_UNIQUE_ID_BYTES
};

struct NcclApi {
  using Comm = void*;
  // ncclResult_t is an int enum (0 = success). ncclFloat32 = 7, ncclSum = 0.
  static constexpr int kFloat32 = 7, kSum = 0;
  int (*get_version)(int*) = nullptr;
  int (*get_unique_id)(NcclUniqueId*) = nullptr;
  int (*comm_init_rank)(Comm*, int nranks, NcclUniqueId id, int rank) = nullptr;
  int (*comm_destroy)(Comm) = nullptr;
  int (*all_reduce)(const void* send, void* recv, size_t count, int datatype, int op, Comm comm,
                    cudaStream_t stream) = nullptr;
  const char* (*error_string)(int) = nullptr;
  std::string library;  // the file that was loaded
  int version = 0;
};

// The loaded API, or null (with *why filled) when NCCL cannot be found. Loaded once per process.
const NcclApi* nccl_api(std::string* why = nullptr);

}  // namespace cxrl
