// Conversions between JavaScript values and engine tensors. Every check throws a JS TypeError or
// RangeError naming the argument, so bad input never reaches the engine.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "core/tensor.h"

namespace cxrl {

Shape shape_from_js(const Napi::Value& v, const std::string& what);
Napi::Array shape_to_js(Napi::Env env, const Shape& s);

// {data: Float32Array, shape: number[]} -> Tensor (copied).
Tensor tensor_from_js(const Napi::Value& v, const std::string& what);
// Float32Array plus an explicit shape -> Tensor (copied).
Tensor tensor_from_array(const Napi::Value& data, const Shape& shape, const std::string& what);
// Tensor -> {data: Float32Array, shape: number[]}.
Napi::Object tensor_to_js(Napi::Env env, const Tensor& t);
Napi::Float32Array floats_to_js(Napi::Env env, const Tensor& t);
Napi::Float64Array doubles_to_js(Napi::Env env, const std::vector<double>& v);

// A model on a device gets its inputs moved there before a pass, and its results are brought to
// the host inside the pass (on the engine thread), so the JS thread never waits on a device copy.
inline Tensor to_model_device(Tensor t, Device d) { return d == t.device ? std::move(t) : t.to(d); }
inline Tensor to_host(Tensor t) { return t.on_device() ? t.to(Device::kCpu) : std::move(t); }

}  // namespace cxrl
