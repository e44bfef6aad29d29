// JavaScript class TextEncoder: the built-in report encoder. forward({ids: Int32Array, shape: [B, L],
// mask: Float32Array}) -> {data, shape: [B, L, width]}; backward(gradOutput) accumulates parameter
// gradients. Parameter methods are shared with UNet (param_methods.h).
#include <napi.h>

#include <memory>

#include "binding/convert.h"
#include "binding/image_encoder_binding.h"
#include "binding/param_methods.h"
#include "binding/unet_binding.h"
#include "model/text_encoder.h"

namespace cxrl {

class TextEncoderWrap : public ParamMethods<TextEncoderWrap> {
 public:
  static Napi::FunctionReference constructor;

  static Napi::Function Init(Napi::Env env) {
    std::vector<Napi::ClassPropertyDescriptor<TextEncoderWrap>> methods = param_methods();
    methods.push_back(InstanceMethod("configJson", &TextEncoderWrap::ConfigJson));
    methods.push_back(InstanceMethod("forward", &TextEncoderWrap::Forward));
    methods.push_back(InstanceMethod("backward", &TextEncoderWrap::Backward));
    for (auto& m : device_methods()) methods.push_back(m);
    Napi::Function f = DefineClass(env, "TextEncoder", methods);
    constructor = Napi::Persistent(f);
    return f;
  }

  // new TextEncoder(configJsonText, seed)
  explicit TextEncoderWrap(const Napi::CallbackInfo& info) : ParamMethods<TextEncoderWrap>(info) {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
      throw Napi::TypeError::New(info.Env(), "new TextEncoder(configJson: string, seed: number)");
    try {
      model_ = std::make_unique<TextEncoder>(
          TextEncoderConfig::from_json(Json::parse(info[0].As<Napi::String>().Utf8Value())),
          (uint64_t)info[1].As<Napi::Number>().Int64Value());
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  ParamStore& param_store() override { return model_->params(); }
  void check_idle(Napi::Env) const override {}

 private:
  Napi::Value ConfigJson(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), model_->config().to_json().dump());
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject())
      throw Napi::TypeError::New(env, "forward({ids: Int32Array, shape: [B, L], mask: Float32Array})");
    Napi::Object o = info[0].As<Napi::Object>();
    const Shape shape = shape_from_js(o.Get("shape"), "ids");
    if (shape.size() != 2) throw Napi::TypeError::New(env, "ids: shape must be [B, L]");
    Napi::Value ids = o.Get("ids");
    if (!ids.IsTypedArray() || ids.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        (int64_t)ids.As<Napi::TypedArray>().ElementLength() != shape_numel(shape))
      throw Napi::TypeError::New(env, "ids must be an Int32Array of B*L token ids");
    Tensor mask = tensor_from_array(o.Get("mask"), shape, "mask");
    try {
      const Device d = model_->params().device();
      return tensor_to_js(env, model_->forward(ids.As<Napi::Int32Array>().Data(), shape[0], shape[1],
                                               to_model_device(std::move(mask), d)));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  void Backward(const Napi::CallbackInfo& info) {
    if (info.Length() < 1) throw Napi::TypeError::New(info.Env(), "backward(gradOutput: {data, shape})");
    Tensor g = tensor_from_js(info[0], "gradOutput");
    try {
      model_->backward(to_model_device(std::move(g), model_->params().device()));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  std::unique_ptr<TextEncoder> model_;
};

Napi::FunctionReference TextEncoderWrap::constructor;

Napi::Function init_text_encoder_class(Napi::Env env) { return TextEncoderWrap::Init(env); }

TrainableWrap* unwrap_trainable(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object o = v.As<Napi::Object>();
  if (!UNetWrap::constructor.IsEmpty() && o.InstanceOf(UNetWrap::constructor.Value())) return UNetWrap::Unwrap(o);
  if (!TextEncoderWrap::constructor.IsEmpty() && o.InstanceOf(TextEncoderWrap::constructor.Value()))
    return TextEncoderWrap::Unwrap(o);
  if (!ImageEncoderWrap::constructor.IsEmpty() && o.InstanceOf(ImageEncoderWrap::constructor.Value()))
    return ImageEncoderWrap::Unwrap(o);
  return nullptr;
}

}  // namespace cxrl
