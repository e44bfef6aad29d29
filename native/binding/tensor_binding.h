// JavaScript class EngineTensor: a handle to an engine tensor on the CPU or a device, so values
// can stay where a model runs between calls (the sampling loop keeps x_t on the UNet's device).
// JavaScript reads the values only through toHost(). dispose() frees them at once; otherwise the
// garbage collector does (the tensor's bytes are reported to V8 as external memory, so it runs).
//   EngineTensor.fromHost(data: Float32Array, shape: number[], device?: 'cpu' | 'cuda')
//   t.toHost(): Float32Array, t.shape(): number[], t.device(), t.dispose()
#pragma once
#include <napi.h>

#include "core/tensor.h"

namespace cxrl {

Napi::Function init_engine_tensor_class(Napi::Env env);
// A new handle holding t (moved).
Napi::Object wrap_engine_tensor(Napi::Env env, Tensor t);
// The tensor behind a handle; a TypeError naming `what` when v is not one, or was disposed.
const Tensor& unwrap_engine_tensor(const Napi::Value& v, const std::string& what);

}  // namespace cxrl
