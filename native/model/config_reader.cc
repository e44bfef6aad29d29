#include "model/config_reader.h"

namespace cxrl {

ConfigReader::ConfigReader(const Json& j, std::string model) : j_(j), model_(std::move(model)) {
  if (!j.is_object()) throw std::invalid_argument(model_ + " config: expected a JSON object");
}

std::invalid_argument ConfigReader::bad(const std::string& key, const std::string& why) const {
  return std::invalid_argument("\"" + key + "\" " + why);
}

int ConfigReader::get_int(const char* key, int dflt) const {
  if (!has(key)) return dflt;
  if (!at(key).is_number() || at(key).number() != (double)(int)at(key).number()) throw bad(key, "must be an integer");
  return (int)at(key).number();
}

float ConfigReader::get_float(const char* key, float dflt) const {
  if (!has(key)) return dflt;
  if (!at(key).is_number()) throw bad(key, "must be a number");
  return (float)at(key).number();
}

bool ConfigReader::get_bool(const char* key, bool dflt) const {
  if (!has(key)) return dflt;
  if (!at(key).is_bool()) throw bad(key, "must be true or false");
  return at(key).boolean();
}

std::vector<int> ConfigReader::int_list(const char* key) const {
  if (!has(key)) throw bad(key, "is missing");
  if (!at(key).is_array()) throw bad(key, "must be a list of integers");
  std::vector<int> out;
  for (const auto& e : at(key).array()) {
    if (!e.is_number()) throw bad(key, "must be a list of integers");
    out.push_back((int)e.number());
  }
  return out;
}

std::vector<std::string> ConfigReader::str_list(const char* key) const {
  if (!has(key)) throw bad(key, "is missing");
  if (!at(key).is_array()) throw bad(key, "must be a list of strings");
  std::vector<std::string> out;
  for (const auto& e : at(key).array()) {
    if (!e.is_string()) throw bad(key, "must be a list of strings");
    out.push_back(e.str());
  }
  return out;
}

void ConfigReader::audit(const ConfigKeys& keys) const {
  for (const auto& [key, expected] : keys.fixed) {
    if (!has(key)) continue;
    const Json& v = at(key);
    const bool ok = (expected.is_bool() && v.is_bool() && v.boolean() == expected.boolean()) ||
                    (expected.is_number() && v.is_number() && v.number() == expected.number()) ||
                    (expected.is_string() && v.is_string() && v.str() == expected.str());
    if (!ok) throw bad(key, "= " + v.dump() + " is not supported by this engine");
  }
  for (const auto& [key, value] : j_.object()) {
    bool known = key.rfind('_', 0) == 0;  // _class_name, _diffusers_version, _name_or_path
    for (const char* k : keys.implemented) known = known || key == k;
    for (const auto& [k, expected] : keys.fixed) known = known || key == k;
    for (const char* k : keys.irrelevant) known = known || key == k;
    if (!known) throw bad(key, "is not a " + model_ + " config key this engine knows; refusing to ignore it");
  }
}

Json json_ints(const std::vector<int>& v) {
  std::vector<Json> a;
  for (int x : v) a.push_back(Json::make_number(x));
  return Json::make_array(a);
}

Json json_strs(const std::vector<std::string>& v) {
  std::vector<Json> a;
  for (const auto& x : v) a.push_back(Json::make_string(x));
  return Json::make_array(a);
}

}  // namespace cxrl
