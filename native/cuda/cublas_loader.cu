#include <string>

#include "cuda/cublas_loader.h"
#include "cuda/library_search.h"

namespace cxrl {
namespace {

CublasApi* load(std::string* why) {
  auto* api = new CublasApi;
  const bool found = open_first_library(
      {"cuBLAS",
       "CXRL_CUBLAS_LIB",
       "libcublas.so.N",
       {"libcublas.so.13", "libcublas.so.12", "libcublas.so"},
       "libcublas.so.*",
       "cublas"},
      [&](void* lib, const std::string& path) -> std::string {
        *api = CublasApi{};
        if (!resolve_symbol(lib, "cublasCreate_v2", &api->create) ||
            !resolve_symbol(lib, "cublasDestroy_v2", &api->destroy) ||
            !resolve_symbol(lib, "cublasSetStream_v2", &api->set_stream) ||
            !resolve_symbol(lib, "cublasSgemm_v2", &api->sgemm) ||
            !resolve_symbol(lib, "cublasGemmEx", &api->gemm_ex) ||
            !resolve_symbol(lib, "cublasGemmStridedBatchedEx", &api->gemm_strided_batched_ex))
          return "missing cuBLAS v2 entry points";
        const int status = api->create(&api->handle);
        if (status != 0) return "cublasCreate failed with status " + std::to_string(status);
        api->library = path;
        return "";
      },
      why);
  if (found) return api;
  delete api;
  return nullptr;
}

}  // namespace

const CublasApi* cublas_api(std::string* why) { return load_once(load, why); }

}  // namespace cxrl
