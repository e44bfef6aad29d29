#include <glob.h>

#include <cstdlib>

#include "cuda/library_search.h"

namespace cxrl {

std::vector<std::string> library_candidates(const LibrarySpec& spec) {
  std::vector<std::string> out;
  if (const char* p = std::getenv(spec.env_var)) out.push_back(p);
  for (const char* soname : spec.sonames) out.push_back(soname);
  const std::string file = spec.file_glob;
  std::vector<std::string> site_packages = {"/usr/local/lib/python3*/*-packages", "/usr/lib/python3*/*-packages"};
  for (const char* env : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* root = std::getenv(env)) site_packages.push_back(std::string(root) + "/lib/python3*/site-packages");
  if (const char* home = std::getenv("HOME"))
    site_packages.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  std::vector<std::string> patterns = {"/usr/local/cuda/lib64/" + file};
  for (const std::string& sp : site_packages) {
    patterns.push_back(sp + "/nvidia/" + spec.wheel_dir + "/lib/" + file);
    patterns.push_back(sp + "/nvidia/cu*/lib/" + file);
  }
  for (const std::string& pattern : patterns) {
    glob_t g{};
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return out;
}

bool open_first_library(const LibrarySpec& spec, const std::function<std::string(void*, const std::string&)>& bind,
                        std::string* why) {
  std::string tried;
  for (const std::string& path : library_candidates(spec)) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      tried += "\n  " + path + ": " + dlerror();
      continue;
    }
    const std::string unusable = bind(lib, path);
    if (unusable.empty()) return true;
    tried += "\n  " + path + ": " + unusable;
    dlclose(lib);
  }
  *why = std::string(spec.name) + " not found (set " + spec.env_var + " to " + spec.env_example + "); tried:" + tried;
  return false;
}

}  // namespace cxrl
