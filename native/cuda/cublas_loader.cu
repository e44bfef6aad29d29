#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "cuda/cublas_loader.h"

namespace cxrl {
namespace {

// Candidate files in search order: an explicit path, the dynamic loader's own search
// (LD_LIBRARY_PATH, ld.so.cache), the CUDA install, then the nvidia-cublas Python wheels.
std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* p = std::getenv("CXRL_CUBLAS_LIB")) out.push_back(p);
  for (const char* soname : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) out.push_back(soname);
  std::vector<std::string> patterns = {"/usr/local/cuda/lib64/libcublas.so.*",
                                       "/usr/local/lib/python3*/*-packages/nvidia/cublas/lib/libcublas.so.*",
                                       "/usr/lib/python3*/*-packages/nvidia/cublas/lib/libcublas.so.*"};
  for (const char* env : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* root = std::getenv(env))
      patterns.push_back(std::string(root) + "/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.*");
  if (const char* home = std::getenv("HOME"))
    patterns.push_back(std::string(home) + "/.local/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.*");
  for (const std::string& pattern : patterns) {
    glob_t g{};
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return out;
}

template <typename F>
bool resolve(void* lib, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  return *fn != nullptr;
}

CublasApi* load(std::string* why) {
  std::string tried;
  for (const std::string& path : candidates()) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      tried += "\n  " + path + ": " + dlerror();
      continue;
    }
    auto* api = new CublasApi;
    if (!resolve(lib, "cublasCreate_v2", &api->create) || !resolve(lib, "cublasDestroy_v2", &api->destroy) ||
        !resolve(lib, "cublasSetStream_v2", &api->set_stream) || !resolve(lib, "cublasSgemm_v2", &api->sgemm)) {
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
