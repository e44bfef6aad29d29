// Reading diffusers config.json files: typed getters whose errors name the file and the key, and
// the key audit every model config goes through. Each key of a diffusers model class is in one of
// three groups (implemented; accepted only at one value; irrelevant to this engine), and any other
// key is refused by name, so nothing is accepted and silently ignored.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "io/json.h"

namespace cxrl {

struct ConfigKeys {
  std::vector<const char*> implemented;
  // Accepted only at this value (a null Json: only absent or null).
  std::vector<std::pair<const char*, Json>> fixed;
  std::vector<const char*> irrelevant;
};

class ConfigReader {
 public:
  // model: the diffusers class. Errors name the key; the caller, which knows the file, names it.
  ConfigReader(const Json& j, std::string model);

  std::invalid_argument bad(const std::string& key, const std::string& why) const;
  bool has(const char* key) const { return j_.has(key) && !j_.at(key).is_null(); }
  const Json& at(const char* key) const { return j_.at(key); }
  int get_int(const char* key, int dflt) const;
  float get_float(const char* key, float dflt) const;
  bool get_bool(const char* key, bool dflt) const;
  std::vector<int> int_list(const char* key) const;  // the key must be present
  std::vector<std::string> str_list(const char* key) const;
  // Fixed keys at their value, and no key outside the three groups (leading '_' keys are metadata).
  void audit(const ConfigKeys& keys) const;

 private:
  const Json& j_;
  std::string model_;
};

// For writing configs back out.
Json json_ints(const std::vector<int>& v);
Json json_strs(const std::vector<std::string>& v);

}  // namespace cxrl
