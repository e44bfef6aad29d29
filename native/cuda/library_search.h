// Where the CUDA backend looks for a library it loads at run time (cuBLAS, NCCL), in order: the
// file an environment variable names, the dynamic loader's own search by soname (LD_LIBRARY_PATH,
// ld.so.cache), the CUDA install, then the NVIDIA Python wheels (system, user, venv and conda
// site-packages; nvidia/<wheel>/lib and the CUDA-13 wheels' shared nvidia/cu*/lib). Also the one
// way a loader resolves the entry points it declares.
#pragma once
#include <dlfcn.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace cxrl {

struct LibrarySpec {
  const char* env_var;               // e.g. "CXRL_NCCL_LIB"
  std::vector<const char*> sonames;  // e.g. {"libnccl.so.2"}
  const char* file_glob;             // e.g. "libnccl.so.*"
  const char* wheel_dir;             // e.g. "nccl" (nvidia/nccl/lib)
};

std::vector<std::string> library_candidates(const LibrarySpec& spec);

// *fn = the symbol `name` of a dlopen'ed library; false when it has none.
template <typename F>
bool resolve_symbol(void* lib, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  return *fn != nullptr;
}

}  // namespace cxrl
