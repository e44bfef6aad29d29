#include "io/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cxrl {

class JsonParser {
 public:
  explicit JsonParser(const std::string& t) : t_(t) {}

  Json parse_document() {
    Json v = value();
    ws();
    if (i_ != t_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw std::invalid_argument(std::string("JSON: ") + what + " at offset " + std::to_string(i_));
  }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\t' || t_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail((std::string("expected '") + c + "'").c_str());
  }
  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (t_.compare(i_, n, word) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }

  Json value() {
    ws();
    if (i_ >= t_.size()) fail("unexpected end");
    Json v;
    const char c = t_[i_];
    if (c == '{') {
      ++i_;
      v.type_ = Json::Type::kObject;
      if (eat('}')) return v;
      do {
        ws();
        std::string key = string_literal();
        expect(':');
        v.obj_[key] = value();
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.type_ = Json::Type::kArray;
      if (eat(']')) return v;
      do v.arr_.push_back(value());
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.type_ = Json::Type::kString;
      v.s_ = string_literal();
    } else if (literal("true")) {
      v.type_ = Json::Type::kBool;
      v.b_ = true;
    } else if (literal("false")) {
      v.type_ = Json::Type::kBool;
    } else if (literal("null")) {
    } else if (literal("NaN")) {
      v.type_ = Json::Type::kNumber;
      v.num_ = NAN;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      const char* start = t_.c_str() + i_;
      char* end = nullptr;
      v.num_ = std::strtod(start, &end);
      if (end == start) fail("bad number");
      i_ += end - start;
      v.type_ = Json::Type::kNumber;
    } else {
      fail("unexpected character");
    }
    return v;
  }

  std::string string_literal() {
    if (i_ >= t_.size() || t_[i_] != '"') fail("expected string");
    ++i_;
    std::string out;
    while (i_ < t_.size() && t_[i_] != '"') {
      char c = t_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= t_.size()) fail("bad escape");
      char e = t_[i_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (i_ + 4 > t_.size()) fail("bad \\u escape");
          unsigned cp = std::stoul(t_.substr(i_, 4), nullptr, 16);
          i_ += 4;
          if (cp < 0x80)
            out += (char)cp;
          else if (cp < 0x800) {
            out += (char)(0xC0 | (cp >> 6));
            out += (char)(0x80 | (cp & 0x3F));
          } else {
            out += (char)(0xE0 | (cp >> 12));
            out += (char)(0x80 | ((cp >> 6) & 0x3F));
            out += (char)(0x80 | (cp & 0x3F));
          }
          break;
        }
        default:
          out += e;
      }
    }
    if (i_ >= t_.size()) fail("unterminated string");
    ++i_;
    return out;
  }

  const std::string& t_;
  size_t i_ = 0;
};

Json Json::parse(const std::string& text) { return JsonParser(text).parse_document(); }

Json Json::parse_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return parse(text.str());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

double Json::number() const {
  if (type_ == Type::kBool) return b_ ? 1 : 0;
  if (type_ != Type::kNumber) throw std::invalid_argument("JSON value is not a number");
  return num_;
}
bool Json::boolean() const {
  if (type_ != Type::kBool) throw std::invalid_argument("JSON value is not a boolean");
  return b_;
}
const std::string& Json::str() const {
  if (type_ != Type::kString) throw std::invalid_argument("JSON value is not a string");
  return s_;
}
const std::vector<Json>& Json::array() const {
  if (type_ != Type::kArray) throw std::invalid_argument("JSON value is not an array");
  return arr_;
}
const std::map<std::string, Json>& Json::object() const {
  if (type_ != Type::kObject) throw std::invalid_argument("JSON value is not an object");
  return obj_;
}
bool Json::has(const std::string& key) const { return type_ == Type::kObject && obj_.count(key); }
const Json& Json::at(const std::string& key) const {
  auto it = object().find(key);
  if (it == obj_.end()) throw std::invalid_argument("JSON: missing key \"" + key + "\"");
  return it->second;
}

Json Json::make_number(double v) {
  Json j;
  j.type_ = Type::kNumber;
  j.num_ = v;
  return j;
}
Json Json::make_string(std::string v) {
  Json j;
  j.type_ = Type::kString;
  j.s_ = std::move(v);
  return j;
}
Json Json::make_bool(bool v) {
  Json j;
  j.type_ = Type::kBool;
  j.b_ = v;
  return j;
}
Json Json::make_array(std::vector<Json> v) {
  Json j;
  j.type_ = Type::kArray;
  j.arr_ = std::move(v);
  return j;
}
Json Json::make_object(std::map<std::string, Json> v) {
  Json j;
  j.type_ = Type::kObject;
  j.obj_ = std::move(v);
  return j;
}

namespace {
void escape_into(const std::string& s, std::ostringstream& os) {
  os << '"';
  for (char c : s) {
    if (c == '"' || c == '\\')
      os << '\\' << c;
    else if (c == '\n')
      os << "\\n";
    else if ((unsigned char)c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      os << buf;
    } else
      os << c;
  }
  os << '"';
}
void dump_into(const Json& j, std::ostringstream& os) {
  switch (j.type()) {
    case Json::Type::kNull:
      os << "null";
      break;
    case Json::Type::kBool:
      os << (j.boolean() ? "true" : "false");
      break;
    case Json::Type::kNumber: {
      double v = j.number();
      if (v == std::floor(v) && std::fabs(v) < 9e15)
        os << (long long)v;
      else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.9g", v);
        os << buf;
      }
      break;
    }
    case Json::Type::kString:
      escape_into(j.str(), os);
      break;
    case Json::Type::kArray: {
      os << '[';
      bool first = true;
      for (const auto& e : j.array()) {
        if (!first) os << ',';
        first = false;
        dump_into(e, os);
      }
      os << ']';
      break;
    }
    case Json::Type::kObject: {
      os << '{';
      bool first = true;
      for (const auto& [k, e] : j.object()) {
        if (!first) os << ',';
        first = false;
        escape_into(k, os);
        os << ':';
        dump_into(e, os);
      }
      os << '}';
      break;
    }
  }
}
}  // namespace

std::string Json::dump() const {
  std::ostringstream os;
  dump_into(*this, os);
  return os.str();
}

}  // namespace cxrl
