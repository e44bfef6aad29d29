// JavaScript class Vae: owns an AutoencoderKL. decode/encode run synchronously or, as
// decodeAsync/encodeAsync, on the engine thread (the object is marked busy meanwhile). Weights load
// through the shared parameter methods; older diffusers attention names are mapped on load.
#include <napi.h>

#include <atomic>
#include <memory>

#include "binding/convert.h"
#include "binding/engine_job.h"
#include "binding/param_methods.h"
#include "io/json.h"
#include "model/vae.h"

namespace cxrl {
namespace {

struct EncodeResult {
  Tensor mean, logvar;
};

Napi::Object encode_to_js(Napi::Env env, const EncodeResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("mean", tensor_to_js(env, r.mean));
  o.Set("logvar", tensor_to_js(env, r.logvar));
  return o;
}

class VaeWrap : public ParamMethods<VaeWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    std::vector<Napi::ClassPropertyDescriptor<VaeWrap>> methods = param_methods();
    methods.push_back(InstanceMethod("configJson", &VaeWrap::ConfigJson));
    methods.push_back(InstanceMethod("decode", &VaeWrap::Decode));
    methods.push_back(InstanceMethod("encode", &VaeWrap::Encode));
    methods.push_back(InstanceMethod("decodeAsync", &VaeWrap::DecodeAsync));
    methods.push_back(InstanceMethod("encodeAsync", &VaeWrap::EncodeAsync));
    for (auto& m : device_methods()) methods.push_back(m);
    return DefineClass(env, "Vae", methods);
  }

  // new Vae(configJsonText, seed)
  explicit VaeWrap(const Napi::CallbackInfo& info) : ParamMethods<VaeWrap>(info) {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
      throw Napi::TypeError::New(info.Env(), "new Vae(configJson: string, seed: number)");
    try {
      const VaeConfig cfg = VaeConfig::from_json(Json::parse(info[0].As<Napi::String>().Utf8Value()));
      model_ = std::make_unique<AutoencoderKL>(cfg, (uint64_t)info[1].As<Napi::Number>().Int64Value());
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  ParamStore& param_store() override { return model_->params(); }
  void check_idle(Napi::Env env) const override {
    if (busy_) throw Napi::Error::New(env, "Vae is busy with an asynchronous decode/encode");
  }
  std::string param_name_for_file_key(const std::string& key) const override { return AutoencoderKL::current_key(key); }

 private:
  Napi::Value ConfigJson(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), model_->config().to_json().dump());
  }

  static Tensor tensor_arg(const Napi::CallbackInfo& info, const char* what) {
    if (info.Length() < 1) throw Napi::TypeError::New(info.Env(), std::string(what) + "(tensor: {data, shape})");
    return tensor_from_js(info[0], what);
  }

  // decode(latents [B, latent_channels, h, w]) -> images [B, out_channels, h*f, w*f]
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    const Tensor z = tensor_arg(info, "decode");
    try {
      return tensor_to_js(info.Env(), model_->decode(to_model_device(z, model_->params().device())));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  // encode(images [B, in_channels, H, W]) -> {mean, logvar} [B, latent_channels, H/f, W/f]
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    const Tensor x = tensor_arg(info, "encode");
    EncodeResult r;
    try {
      model_->encode(to_model_device(x, model_->params().device()), &r.mean, &r.logvar);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return encode_to_js(info.Env(), r);
  }

  Napi::Value DecodeAsync(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    auto z = std::make_shared<Tensor>(tensor_arg(info, "decodeAsync"));
    auto out = std::make_shared<Tensor>();
    return EngineJob::queue(
        info.Env(), *this, busy_,
        [this, z, out] { *out = to_host(model_->decode(to_model_device(std::move(*z), model_->params().device()))); },
        [out](Napi::Env env) { return Napi::Value(tensor_to_js(env, *out)); });
  }

  Napi::Value EncodeAsync(const Napi::CallbackInfo& info) {
    check_idle(info.Env());
    auto x = std::make_shared<Tensor>(tensor_arg(info, "encodeAsync"));
    auto out = std::make_shared<EncodeResult>();
    return EngineJob::queue(
        info.Env(), *this, busy_,
        [this, x, out] {
          model_->encode(to_model_device(std::move(*x), model_->params().device()), &out->mean, &out->logvar);
        },
        [out](Napi::Env env) { return Napi::Value(encode_to_js(env, *out)); });
  }

  std::unique_ptr<AutoencoderKL> model_;
  std::atomic<bool> busy_{false};
};

}  // namespace

Napi::Function init_vae_class(Napi::Env env) { return VaeWrap::Init(env); }

}  // namespace cxrl
