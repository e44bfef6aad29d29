// JavaScript class ImageEncoder: the compact CNN of the default reward models.
// forward({data, shape: [B, C, S, S]}) -> {data, shape: [B, out_dim]}; backward(gradOutput) accumulates
// parameter gradients and returns d/dinput. Parameter methods are shared (param_methods.h).
#include "binding/image_encoder_binding.h"

#include "binding/convert.h"

namespace cxrl {

Napi::FunctionReference ImageEncoderWrap::constructor;

Napi::Function ImageEncoderWrap::Init(Napi::Env env) {
  std::vector<Napi::ClassPropertyDescriptor<ImageEncoderWrap>> methods = param_methods();
  methods.push_back(InstanceMethod("configJson", &ImageEncoderWrap::ConfigJson));
  methods.push_back(InstanceMethod("forward", &ImageEncoderWrap::Forward));
  methods.push_back(InstanceMethod("backward", &ImageEncoderWrap::Backward));
  Napi::Function f = DefineClass(env, "ImageEncoder", methods);
  constructor = Napi::Persistent(f);
  return f;
}

ImageEncoderWrap::ImageEncoderWrap(const Napi::CallbackInfo& info) : ParamMethods<ImageEncoderWrap>(info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throw Napi::TypeError::New(info.Env(), "new ImageEncoder(configJson: string, seed: number)");
  try {
    model_ = std::make_unique<ImageEncoder>(
        ImageEncoderConfig::from_json(Json::parse(info[0].As<Napi::String>().Utf8Value())),
        (uint64_t)info[1].As<Napi::Number>().Int64Value());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value ImageEncoderWrap::ConfigJson(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), model_->config().to_json().dump());
}

Napi::Value ImageEncoderWrap::Forward(const Napi::CallbackInfo& info) {
  if (info.Length() < 1) throw Napi::TypeError::New(info.Env(), "forward(input: {data, shape: [B, C, S, S]})");
  Tensor x = tensor_from_js(info[0], "input");
  try {
    return tensor_to_js(info.Env(), model_->forward(x));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value ImageEncoderWrap::Backward(const Napi::CallbackInfo& info) {
  if (info.Length() < 1) throw Napi::TypeError::New(info.Env(), "backward(gradOutput: {data, shape: [B, out_dim]})");
  Tensor g = tensor_from_js(info[0], "gradOutput");
  try {
    return tensor_to_js(info.Env(), model_->backward(g));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Function init_image_encoder_class(Napi::Env env) { return ImageEncoderWrap::Init(env); }

}  // namespace cxrl
