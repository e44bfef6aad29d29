// Where the CUDA backend looks for a library it loads at run time (cuBLAS, NCCL), in order: the
// file an environment variable names, the dynamic loader's own search by soname (LD_LIBRARY_PATH,
// ld.so.cache), the CUDA install, then the NVIDIA Python wheels (system, user, venv and conda
// site-packages; nvidia/<wheel>/lib and the CUDA-13 wheels' shared nvidia/cu*/lib). Also the one
// way a loader opens its library, resolves the entry points it declares and keeps the result.
#pragma once
#include <dlfcn.h>

#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <vector>

namespace cxrl {

struct LibrarySpec {
  const char* name;                  // e.g. "NCCL", for messages
  const char* env_var;               // e.g. "CXRL_NCCL_LIB"
  const char* env_example;           // e.g. "libnccl.so.2", for messages
  std::vector<const char*> sonames;  // e.g. {"libnccl.so.2"}
  const char* file_glob;             // e.g. "libnccl.so.*"
  const char* wheel_dir;             // e.g. "nccl" (nvidia/nccl/lib)
};

std::vector<std::string> library_candidates(const LibrarySpec& spec);

// Opens the first candidate that dlopens and that `bind` accepts: bind(lib, path) resolves what it
// needs and returns "" or why the library is unusable (it is then closed and the next one tried).
// False, with *why naming the library, its variable and every candidate tried, when none is.
bool open_first_library(const LibrarySpec& spec, const std::function<std::string(void*, const std::string&)>& bind,
                        std::string* why);

// load() once per process and per API; later calls return the same result (and reason).
template <typename Api>
const Api* load_once(Api* (*load)(std::string*), std::string* why) {
  static std::once_flag once;
  static Api* api = nullptr;
  static std::string reason;
  std::call_once(once, [&] { api = load(&reason); });
  if (!api && why) *why = reason;
  return api;
}

// *fn = the symbol `name` of a dlopen'ed library; false when it has none.
template <typename F>
bool resolve_symbol(void* lib, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  return *fn != nullptr;
}

}  // namespace cxrl
