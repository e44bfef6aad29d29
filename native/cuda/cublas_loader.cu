#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "cuda/cublas_loader.h"
#include "cuda/library_search.h"

namespace cxrl {
namespace {

CublasApi* load(std::string* why) {
  std::string tried;
  for (const std::string& path : library_candidates(
           {"CXRL_CUBLAS_LIB", {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}, "libcublas.so.*", "cublas"})) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      tried += "\n  " + path + ": " + dlerror();
      continue;
    }
    auto* api = new CublasApi;
    if (!resolve_symbol(lib, "cublasCreate_v2", &api->create) ||
        !resolve_symbol(lib, "cublasDestroy_v2", &api->destroy) ||
        !resolve_symbol(lib, "cublasSetStream_v2", &api->set_stream) ||
        !resolve_symbol(lib, "cublasSgemm_v2", &api->sgemm) || !resolve_symbol(lib, "cublasGemmEx", &api->gemm_ex)) {
      tried += "\n  " + path + ": missing cuBLAS v2 entry points";
      delete api;
      dlclose(lib);
      continue;
    }
    const int status = api->create(&api->handle);
    if (status != 0) {
      tried += "\n  " + path + ": cublasCreate failed with status " + std::to_string(status);
      delete api;
      continue;
    }
    api->library = path;
    return api;
  }
  *why = "cuBLAS not found (set CXRL_CUBLAS_LIB to libcublas.so.N); tried:" + tried;
  return nullptr;
}

}  // namespace

const CublasApi* cublas_api(std::string* why) {
  static std::once_flag once;
  static CublasApi* api = nullptr;
  static std::string reason;
  std::call_once(once, [] { api = load(&reason); });
  if (!api && why) *why = reason;
  return api;
}

}  // namespace cxrl
