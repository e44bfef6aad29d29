#include "binding/options.h"

#include <cmath>

namespace cxrl {

Options Options::from(const Napi::CallbackInfo& info, const char* fn, const char* usage, size_t index) {
  if (info.Length() <= index || !info[index].IsObject() || info[index].IsArray())
    throw Napi::TypeError::New(info.Env(), usage);
  return Options(info[index].As<Napi::Object>(), fn);
}

bool Options::has(const char* key) const {
  if (!o_.Has(key)) return false;
  const Napi::Value v = o_.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

Napi::TypeError Options::type_error(const std::string& what) const {
  return Napi::TypeError::New(o_.Env(), fn_ + ": " + what);
}
Napi::RangeError Options::range_error(const std::string& what) const {
  return Napi::RangeError::New(o_.Env(), fn_ + ": " + what);
}

double Options::number(const char* key) const {
  if (!has(key)) throw type_error(std::string(key) + " is required");
  return number(key, 0);
}

double Options::number(const char* key, double dflt) const {
  if (!has(key)) return dflt;
  const Napi::Value v = o_.Get(key);
  if (!v.IsNumber()) throw type_error(std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw range_error(std::string(key) + " must be finite, got " + std::to_string(d));
  return d;
}

int64_t Options::integer(const char* key, int64_t min) const {
  if (!has(key)) throw type_error(std::string(key) + " is required");
  return integer(key, 0, min);
}

int64_t Options::integer(const char* key, int64_t dflt, int64_t min) const {
  if (!has(key)) return dflt;
  const double d = number(key, 0);
  if (d != std::floor(d) || d < (double)min || d > 9007199254740991.0)
    throw range_error(std::string(key) + " must be an integer >= " + std::to_string(min));
  return (int64_t)d;
}

bool Options::boolean(const char* key, bool dflt) const {
  if (!has(key)) return dflt;
  const Napi::Value v = o_.Get(key);
  if (!v.IsBoolean()) throw type_error(std::string(key) + " must be true or false");
  return v.As<Napi::Boolean>().Value();
}

std::string Options::string(const char* key, const std::string& dflt) const {
  if (!has(key)) return dflt;
  const Napi::Value v = o_.Get(key);
  if (!v.IsString()) throw type_error(std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::string Options::choice(const char* key, const std::string& dflt,
                            std::initializer_list<const char*> allowed) const {
  const std::string s = string(key, dflt);
  std::string list;
  for (const char* a : allowed) {
    if (s == a) return s;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw range_error(std::string(key) + " must be one of " + list + ", got '" + s + "'");
}

namespace {
template <typename Array>
Array typed_array(const Options& o, const char* key, napi_typedarray_type type, const char* type_name, int64_t n) {
  if (!o.has(key)) throw o.type_error(std::string(key) + " is required");
  const Napi::Value v = o.get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw o.type_error(std::string(key) + " must be a " + type_name);
  Array a = v.As<Array>();
  const int64_t len = (int64_t)a.ElementLength();
  if (n >= 0 ? len != n : len == 0)
    throw o.range_error(std::string(key) + ": expected " + (n >= 0 ? std::to_string(n) : "a non-zero number of") +
                        " values, got " + std::to_string(len));
  return a;
}
}  // namespace

Napi::Float32Array Options::float32_array(const char* key, int64_t n) const {
  return typed_array<Napi::Float32Array>(*this, key, napi_float32_array, "Float32Array", n);
}
Napi::Float64Array Options::float64_array(const char* key, int64_t n) const {
  return typed_array<Napi::Float64Array>(*this, key, napi_float64_array, "Float64Array", n);
}
const float* Options::float32(const char* key, int64_t n) const { return float32_array(key, n).Data(); }
const float* Options::float32_or_null(const char* key, int64_t n) const { return has(key) ? float32(key, n) : nullptr; }

std::vector<double> Options::per_sample(const char* key, int64_t n) const {
  if (!has(key)) throw type_error(std::string(key) + " is required");
  const Napi::Value v = o_.Get(key);
  if (v.IsNumber()) return std::vector<double>((size_t)n, number(key, 0));
  if (!v.IsTypedArray() && !v.IsArray())
    throw type_error(std::string(key) + " must be a number or one number per sample");
  const Napi::Object arr = v.As<Napi::Object>();
  const int64_t len = v.IsArray() ? v.As<Napi::Array>().Length() : (int64_t)v.As<Napi::TypedArray>().ElementLength();
  if (len != 1 && len != n)
    throw range_error(std::string(key) + ": expected 1 or " + std::to_string(n) + " values, got " +
                      std::to_string(len));
  std::vector<double> out;
  for (int64_t i = 0; i < len; ++i) {
    const Napi::Value e = arr.Get((uint32_t)i);
    if (!e.IsNumber()) throw type_error(std::string(key) + "[" + std::to_string(i) + "] must be a number");
    const double d = e.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) throw range_error(std::string(key) + "[" + std::to_string(i) + "] must be finite");
    out.push_back(d);
  }
  if (len == 1 && n != 1) out.assign((size_t)n, out[0]);
  return out;
}

}  // namespace cxrl
