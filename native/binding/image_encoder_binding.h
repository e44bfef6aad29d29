#pragma once
#include <napi.h>

#include <memory>

#include "binding/param_methods.h"
#include "model/image_encoder.h"

namespace cxrl {

class ImageEncoderWrap : public ParamMethods<ImageEncoderWrap> {
 public:
  static Napi::FunctionReference constructor;
  static Napi::Function Init(Napi::Env env);
  explicit ImageEncoderWrap(const Napi::CallbackInfo& info);
  ParamStore& param_store() override { return model_->params(); }
  void check_idle(Napi::Env) const override {}

 private:
  Napi::Value ConfigJson(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  std::unique_ptr<ImageEncoder> model_;
};

}  // namespace cxrl
