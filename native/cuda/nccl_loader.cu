#include <string>

#include "cuda/library_search.h"
#include "cuda/nccl_loader.h"

namespace cxrl {
namespace {

NcclApi* load(std::string* why) {
  auto* api = new NcclApi;
  const bool found = open_first_library(
      {"NCCL", "CXRL_NCCL_LIB", "libnccl.so.2", {"libnccl.so.2", "libnccl.so"}, "libnccl.so*", "nccl"},
      [&](void* lib, const std::string& path) -> std::string {
        *api = NcclApi{};
        if (!resolve_symbol(lib, "ncclGetVersion", &api->get_version) ||
            !resolve_symbol(lib, "ncclGetUniqueId", &api->get_unique_id) ||
            !resolve_symbol(lib, "ncclCommInitRank", &api->comm_init_rank) ||
            !resolve_symbol(lib, "ncclCommDestroy", &api->comm_destroy) ||
            !resolve_symbol(lib, "ncclAllReduce", &api->all_reduce) ||
            !resolve_symbol(lib, "ncclGetErrorString", &api->error_string))
          return "missing NCCL entry points";
        api->get_version(&api->version);
        api->library = path;
        return "";
      },
      why);
  if (found) return api;
  delete api;
  return nullptr;
}

}  // namespace

const NcclApi* nccl_api(std::string* why) { return load_once(load, why); }

}  // namespace cxrl
