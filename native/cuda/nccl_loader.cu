#include <mutex>

#include "cuda/library_search.h"
#include "cuda/nccl_loader.h"

namespace cxrl {
namespace {

NcclApi* load(std::string* why) {
  std::string tried;
  for (const std::string& path :
       library_candidates({"CXRL_NCCL_LIB", {"libnccl.so.2", "libnccl.so"}, "libnccl.so*", "nccl"})) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      tried += "\n  " + path + ": " + dlerror();
      continue;
    }
    auto* api = new NcclApi;
    if (!resolve_symbol(lib, "ncclGetVersion", &api->get_version) ||
        !resolve_symbol(lib, "ncclGetUniqueId", &api->get_unique_id) ||
        !resolve_symbol(lib, "ncclCommInitRank", &api->comm_init_rank) ||
        !resolve_symbol(lib, "ncclCommDestroy", &api->comm_destroy) ||
        !resolve_symbol(lib, "ncclAllReduce", &api->all_reduce) ||
        !resolve_symbol(lib, "ncclGetErrorString", &api->error_string)) {
      tried += "\n  " + path + ": missing NCCL entry points";
      delete api;
      dlclose(lib);
      continue;
    }
    api->get_version(&api->version);
    api->library = path;
    return api;
  }
  *why = "NCCL not found (set CXRL_NCCL_LIB to libnccl.so.2); tried:" + tried;
  return nullptr;
}

}  // namespace

const NcclApi* nccl_api(std::string* why) {
  static std::once_flag once;
  static NcclApi* api = nullptr;
  static std::string reason;
  std::call_once(once, [] { api = load(&reason); });
  if (!api && why) *why = reason;
  return api;
}

}  // namespace cxrl
