// A small JSON value type with a strict parser and a compact writer. Enough for model configs and
// safetensors headers; numbers are doubles.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cxrl {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;
  static Json parse(const std::string& text);  // throws std::invalid_argument with the offset
  // The JSON document in a file; throws std::runtime_error naming the file when it cannot be read,
  // std::invalid_argument naming it and the offset when it does not parse.
  static Json parse_file(const std::string& path);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_bool() const { return type_ == Type::kBool; }

  double number() const;
  bool boolean() const;
  const std::string& str() const;
  const std::vector<Json>& array() const;
  const std::map<std::string, Json>& object() const;

  bool has(const std::string& key) const;
  const Json& at(const std::string& key) const;  // throws naming the missing key

  static Json make_number(double v);
  static Json make_string(std::string v);
  static Json make_bool(bool v);
  static Json make_array(std::vector<Json> v);
  static Json make_object(std::map<std::string, Json> v);

  std::string dump() const;

 private:
  Type type_ = Type::kNull;
  double num_ = 0;
  bool b_ = false;
  std::string s_;
  std::vector<Json> arr_;
  std::map<std::string, Json> obj_;
  friend class JsonParser;
};

}  // namespace cxrl
