// Module entry: engine info and settings, safetensors I/O, and the model / Optimizer classes.
#include <napi.h>

#include "binding/convert.h"
#include "binding/options.h"
#include "binding/tensor_binding.h"
#include "binding/unet_binding.h"
#include "core/backend.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/precision.h"
#include "core/scratch.h"
#include "distributed/dist_env.h"
#include "io/safetensors.h"
#include "ops/conv2d_direct.h"

namespace cxrl {

Napi::Function init_optimizer_class(Napi::Env env);
void init_ema_function(Napi::Env env, Napi::Object exports);
Napi::Function init_text_encoder_class(Napi::Env env);
Napi::Function init_image_encoder_class(Napi::Env env);
Napi::Function init_vae_class(Napi::Env env);
void init_rl_functions(Napi::Env env, Napi::Object exports);
void init_phantom_functions(Napi::Env env, Napi::Object exports);
void init_loss_functions(Napi::Env env, Napi::Object exports);
void init_image_ops_functions(Napi::Env env, Napi::Object exports);
void init_eval_functions(Napi::Env env, Napi::Object exports);
void init_bench_functions(Napi::Env env, Napi::Object exports);

namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const DeviceStatus cs = device_status(Device::kCuda);
  Napi::Array backends = Napi::Array::New(env);
  backends.Set(0u, "cpu");
  if (cs.compiled) backends.Set(1u, "cuda");
  o.Set("backends", backends);
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", cs.compiled);
  cuda.Set("usable", cs.usable);
  cuda.Set("deviceCount", cs.device_count);
  cuda.Set("deviceName", cs.device_name);
  cuda.Set("runtimeVersion", cs.runtime_version);
  cuda.Set("reason", cs.reason);
  o.Set("cuda", cuda);
  o.Set("gemm", gemm_backend_name());
  o.Set("openblasAvailable", openblas_available());
  o.Set("convKernel", direct_conv_isa_name(direct_conv_isas().front()));
  o.Set("threads", num_threads());
  o.Set("precision", precision_name(compute_precision()));
  return o;
}

void SetNumThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "setNumThreads(n: number)");
  set_num_threads(info[0].As<Napi::Number>().Int32Value());
}

// distEnv(): the process group from torchrun's variables (distributed/dist_env.h); throws naming a bad one.
Napi::Value DistEnvInfo(const Napi::CallbackInfo& info) {
  const DistEnv e = rethrow(info.Env(), [] { return dist_env_from_process(); });
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("rank", e.rank);
  o.Set("worldSize", e.world_size);
  o.Set("localRank", e.local_rank);
  o.Set("masterAddr", e.master_addr);
  o.Set("masterPort", e.master_port);
  return o;
}

// deviceMemory({resetPeak?}): the CUDA allocator's bytes in use, peak, cached and cudaMalloc count
// (null when CUDA cannot be used).
Napi::Value DeviceMemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!device_status(Device::kCuda).usable) return env.Null();
  const DeviceBackend& b = require_backend(Device::kCuda);
  const DeviceMemory m = b.memory();
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytesInUse", (double)m.bytes_in_use);
  o.Set("peakBytesInUse", (double)m.peak_bytes_in_use);
  o.Set("bytesCached", (double)m.bytes_cached);
  o.Set("deviceMallocs", (double)m.device_mallocs);
  if (info.Length() > 0 && info[0].IsObject() &&
      Options(info[0].As<Napi::Object>(), "deviceMemory").boolean("resetPeak", false))
    b.reset_peak_memory();
  return o;
}

// setPrecision('fp32' | 'bf16'): the device GEMMs' compute precision (core/precision.h).
void SetPrecision(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "setPrecision('fp32' | 'bf16')");
  rethrow(info.Env(), [&] {
    set_compute_precision(parse_precision(info[0].As<Napi::String>().Utf8Value()));
    return 0;
  });
}

void SetGemmBackend(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(info.Env(), "setGemmBackend('openblas'|'builtin')");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  try {
    if (name == "openblas")
      set_gemm_backend(GemmBackend::kOpenBlas);
    else if (name == "builtin")
      set_gemm_backend(GemmBackend::kBuiltin);
    else
      throw std::invalid_argument("unknown GEMM backend '" + name + "' (openblas or builtin)");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// readSafetensors(path) -> {tensors: {name: {data, shape}}, exact: {name: Float64Array} (F64/I64/I32 only),
//   metadata: {k: v}}
Napi::Value ReadSafetensors(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "readSafetensors(path)");
  SafetensorsFile f;
  try {
    f = read_safetensors(info[0].As<Napi::String>().Utf8Value());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  Napi::Object tensors = Napi::Object::New(info.Env()), meta = Napi::Object::New(info.Env());
  for (const auto& [k, t] : f.tensors) tensors.Set(k, tensor_to_js(info.Env(), t));
  for (const auto& [k, v] : f.metadata) meta.Set(k, v);
  Napi::Object exact = Napi::Object::New(info.Env());
  for (const auto& [k, v] : f.exact) exact.Set(k, doubles_to_js(info.Env(), v));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("tensors", tensors);
  o.Set("exact", exact);
  o.Set("metadata", meta);
  return o;
}

// writeSafetensors(path, {name: {data, shape}}, metadata?) — float32, atomic.
void WriteSafetensors(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject())
    throw Napi::TypeError::New(info.Env(), "writeSafetensors(path, tensors, metadata?)");
  Napi::Object obj = info[1].As<Napi::Object>();
  Napi::Array keys = obj.GetPropertyNames();
  std::map<std::string, Tensor> owned;
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    owned[k] = tensor_from_js(obj.Get(k), k);
  }
  std::map<std::string, const Tensor*> refs;
  for (const auto& [k, t] : owned) refs[k] = &t;
  std::map<std::string, std::string> meta;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object m = info[2].As<Napi::Object>();
    Napi::Array mk = m.GetPropertyNames();
    for (uint32_t i = 0; i < mk.Length(); ++i) {
      const std::string k = mk.Get(i).As<Napi::String>().Utf8Value();
      meta[k] = m.Get(k).ToString().Utf8Value();
    }
  }
  try {
    write_safetensors(info[0].As<Napi::String>().Utf8Value(), refs, meta);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

}  // namespace

Napi::Object init_addon(Napi::Env env, Napi::Object exports) {
  configure_allocator();
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("setGemmBackend", Napi::Function::New(env, SetGemmBackend));
  exports.Set("setPrecision", Napi::Function::New(env, SetPrecision));
  exports.Set("distEnv", Napi::Function::New(env, DistEnvInfo));
  exports.Set("deviceMemory", Napi::Function::New(env, DeviceMemoryInfo));
  exports.Set("readSafetensors", Napi::Function::New(env, ReadSafetensors));
  exports.Set("writeSafetensors", Napi::Function::New(env, WriteSafetensors));
  exports.Set("UNet", UNetWrap::Init(env));
  exports.Set("TextEncoder", init_text_encoder_class(env));
  exports.Set("ImageEncoder", init_image_encoder_class(env));
  exports.Set("Vae", init_vae_class(env));
  exports.Set("Optimizer", init_optimizer_class(env));
  exports.Set("EngineTensor", init_engine_tensor_class(env));
  init_ema_function(env, exports);
  init_rl_functions(env, exports);
  init_phantom_functions(env, exports);
  init_loss_functions(env, exports);
  init_image_ops_functions(env, exports);
  init_eval_functions(env, exports);
  init_bench_functions(env, exports);
  return exports;
}

}  // namespace cxrl

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return cxrl::init_addon(env, exports); }

NODE_API_MODULE(cxrl_native, InitModule)
