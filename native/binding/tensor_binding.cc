#include "binding/tensor_binding.h"

#include <cstring>

#include "binding/convert.h"
#include "binding/options.h"
#include "ops/gather.h"

namespace cxrl {
namespace {

class EngineTensorWrap : public Napi::ObjectWrap<EngineTensorWrap> {
 public:
  static Napi::FunctionReference constructor;

  static Napi::Function Init(Napi::Env env) {
    Napi::Function f = DefineClass(
        env, "EngineTensor",
        {StaticMethod("fromHost", &EngineTensorWrap::FromHost),
         StaticMethod("gatherRows", &EngineTensorWrap::GatherRows), InstanceMethod("toHost", &EngineTensorWrap::ToHost),
         InstanceMethod("shape", &EngineTensorWrap::Shape_), InstanceMethod("device", &EngineTensorWrap::DeviceName),
         InstanceMethod("dispose", &EngineTensorWrap::Dispose)});
    constructor = Napi::Persistent(f);
    return f;
  }

  explicit EngineTensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineTensorWrap>(info) {}
  ~EngineTensorWrap() override { release(); }

  void set(Napi::Env env, Tensor t) {
    tensor_ = std::move(t);
    external_ = tensor_.numel() * (int64_t)sizeof(float);
    Napi::MemoryManagement::AdjustExternalMemory(env, external_);
    env_ = env;
    alive_ = true;
  }
  const Tensor& tensor(const std::string& what) const {
    if (!alive_) throw Napi::TypeError::New(Env(), what + ": the EngineTensor was disposed");
    return tensor_;
  }

 private:
  static Napi::Value FromHost(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2)
      throw Napi::TypeError::New(env, "EngineTensor.fromHost(data: Float32Array, shape: number[], device?)");
    Tensor t = tensor_from_array(info[0], shape_from_js(info[1], "shape"), "EngineTensor.fromHost");
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsString()) throw Napi::TypeError::New(env, "EngineTensor.fromHost: device must be 'cpu' or 'cuda'");
      const Device d = rethrow(env, [&] { return parse_device(info[2].As<Napi::String>().Utf8Value()); });
      if (d != Device::kCpu) t = rethrow(env, [&] { return t.to(d); });
    }
    return wrap_engine_tensor(env, std::move(t));
  }
  // gatherRows(sources: EngineTensor[], rows: number[]): row rows[k] of sources[k] as row k, on the
  // sources' device (a device-side copy there).
  static Napi::Value GatherRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* usage = "EngineTensor.gatherRows(sources: EngineTensor[], rows: number[])";
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray()) throw Napi::TypeError::New(env, usage);
    Napi::Array sources = info[0].As<Napi::Array>(), rows = info[1].As<Napi::Array>();
    if (sources.Length() != rows.Length())
      throw Napi::RangeError::New(env, std::string(usage) + ": one row per source");
    std::vector<const Tensor*> tensors;
    std::vector<int64_t> row_index;
    for (uint32_t k = 0; k < sources.Length(); ++k) {
      const std::string what = "EngineTensor.gatherRows: sources[" + std::to_string(k) + "]";
      tensors.push_back(&unwrap_engine_tensor(sources.Get(k), what));
      const Napi::Value r = rows.Get(k);
      if (!r.IsNumber())
        throw Napi::TypeError::New(env, "EngineTensor.gatherRows: rows[" + std::to_string(k) + "] must be a number");
      row_index.push_back(r.As<Napi::Number>().Int64Value());
    }
    return wrap_engine_tensor(env, rethrow(env, [&] { return gather_rows(tensors, row_index); }));
  }
  Napi::Value ToHost(const Napi::CallbackInfo& info) {
    return rethrow(info.Env(), [&] { return floats_to_js(info.Env(), tensor("toHost")); });
  }
  Napi::Value Shape_(const Napi::CallbackInfo& info) { return shape_to_js(info.Env(), tensor("shape").shape); }
  Napi::Value DeviceName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), device_name(tensor("device").device));
  }
  void Dispose(const Napi::CallbackInfo&) { release(); }

  void release() {
    if (!alive_) return;
    tensor_ = Tensor();
    alive_ = false;
    Napi::MemoryManagement::AdjustExternalMemory(env_, -external_);
  }

  Tensor tensor_;
  int64_t external_ = 0;
  bool alive_ = false;
  napi_env env_ = nullptr;
};

Napi::FunctionReference EngineTensorWrap::constructor;

}  // namespace

Napi::Function init_engine_tensor_class(Napi::Env env) { return EngineTensorWrap::Init(env); }

Napi::Object wrap_engine_tensor(Napi::Env env, Tensor t) {
  Napi::Object o = EngineTensorWrap::constructor.New({});
  EngineTensorWrap::Unwrap(o)->set(env, std::move(t));
  return o;
}

const Tensor& unwrap_engine_tensor(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(EngineTensorWrap::constructor.Value()))
    throw Napi::TypeError::New(v.Env(), what + " must be an EngineTensor");
  return EngineTensorWrap::Unwrap(v.As<Napi::Object>())->tensor(what);
}

}  // namespace cxrl
