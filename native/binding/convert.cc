#include "binding/convert.h"

#include <cstring>

namespace cxrl {

Shape shape_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), what + ": shape must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  Shape s;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber() || e.As<Napi::Number>().DoubleValue() < 0)
      throw Napi::TypeError::New(v.Env(), what + ": shape entries must be non-negative integers");
    s.push_back(e.As<Napi::Number>().Int64Value());
  }
  return s;
}

Napi::Array shape_to_js(Napi::Env env, const Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a.Set((uint32_t)i, Napi::Number::New(env, (double)s[i]));
  return a;
}

Tensor tensor_from_array(const Napi::Value& data, const Shape& shape, const std::string& what) {
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(data.Env(), what + ": data must be a Float32Array");
  Napi::Float32Array f = data.As<Napi::Float32Array>();
  if ((int64_t)f.ElementLength() != shape_numel(shape))
    throw Napi::RangeError::New(
        data.Env(), what + ": " + std::to_string(f.ElementLength()) + " values do not fill shape " + shape_str(shape));
  Tensor t(shape);
  if (!t.v.empty()) std::memcpy(t.data(), f.Data(), t.v.size() * sizeof(float));
  return t;
}

Tensor tensor_from_js(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), what + ": expected {data, shape}");
  Napi::Object o = v.As<Napi::Object>();
  return tensor_from_array(o.Get("data"), shape_from_js(o.Get("shape"), what), what);
}

// A device tensor is copied to the host here: the one place JS receives engine values.
Napi::Float32Array floats_to_js(Napi::Env env, const Tensor& t) {
  if (t.on_device()) return floats_to_js(env, t.to(Device::kCpu));
  Napi::Float32Array a = Napi::Float32Array::New(env, t.v.size());
  if (!t.v.empty()) std::memcpy(a.Data(), t.data(), t.v.size() * sizeof(float));
  return a;
}

Napi::Float64Array doubles_to_js(Napi::Env env, const std::vector<double>& v) {
  Napi::Float64Array out = Napi::Float64Array::New(env, v.size());
  std::memcpy(out.Data(), v.data(), v.size() * sizeof(double));
  return out;
}

Napi::Object tensor_to_js(Napi::Env env, const Tensor& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", floats_to_js(env, t));
  o.Set("shape", shape_to_js(env, t.shape));
  return o;
}

}  // namespace cxrl
