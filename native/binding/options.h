// Reading a binding's arguments: one vocabulary for every JavaScript function of the addon.
// Every reader throws a JS TypeError (wrong type) or RangeError (wrong size or value) that names
// the function and the option, so bad input never reaches the engine.
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace cxrl {

// The options object of a call `fn({...})`, with the function's name for messages.
class Options {
 public:
  Options(Napi::Object o, std::string fn) : o_(o), fn_(std::move(fn)) {}
  // info[index] as an options object, or a TypeError showing `usage`.
  static Options from(const Napi::CallbackInfo& info, const char* fn, const char* usage, size_t index = 0);

  bool has(const char* key) const;  // present and neither undefined nor null
  Napi::Value get(const char* key) const { return o_.Get(key); }
  Napi::Object object() const { return o_; }
  const std::string& fn() const { return fn_; }

  double number(const char* key) const;  // required, finite
  double number(const char* key, double dflt) const;
  int64_t integer(const char* key, int64_t min) const;  // required
  int64_t integer(const char* key, int64_t dflt, int64_t min) const;
  bool boolean(const char* key, bool dflt) const;
  std::string string(const char* key, const std::string& dflt) const;
  // A string that must be one of `allowed`.
  std::string choice(const char* key, const std::string& dflt, std::initializer_list<const char*> allowed) const;

  // Typed arrays, read in place. `n` is the required length (-1: any non-zero length).
  const float* float32(const char* key, int64_t n) const;          // required
  const float* float32_or_null(const char* key, int64_t n) const;  // optional
  Napi::Float32Array float32_array(const char* key, int64_t n = -1) const;
  Napi::Float64Array float64_array(const char* key, int64_t n = -1) const;
  // A number, or an array-like holding 1 or n numbers: broadcast to n values.
  std::vector<double> per_sample(const char* key, int64_t n) const;

  Napi::TypeError type_error(const std::string& what) const;
  Napi::RangeError range_error(const std::string& what) const;

 private:
  Napi::Object o_;
  std::string fn_;
};

// Runs engine code; a std::exception becomes a JS Error with the same message (the TypeScript
// facade turns engine errors into UserErrors in one place, src/engine/native-errors.ts).
template <typename F>
auto rethrow(Napi::Env env, F fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace cxrl
