// JavaScript class UNet: owns a UNet2DCondition. forward/backward run synchronously or, with the
// *Async variants, on the engine thread (binding/engine_job.h; the object is marked busy meanwhile).
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "binding/param_methods.h"
#include "model/unet.h"

namespace cxrl {

class UNetWrap : public ParamMethods<UNetWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit UNetWrap(const Napi::CallbackInfo& info);
  UNet2DCondition& model() { return *model_; }
  ParamStore& param_store() override { return model_->params(); }
  void check_idle(Napi::Env env) const override;

  static Napi::FunctionReference constructor;

 private:
  Napi::Value ConfigJson(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value ForwardAsync(const Napi::CallbackInfo& info);
  Napi::Value BackwardAsync(const Napi::CallbackInfo& info);
  Napi::Value PolicyStepAsync(const Napi::CallbackInfo& info);
  Napi::Value DenoiseStepAsync(const Napi::CallbackInfo& info);
  Napi::Value SampleStepAsync(const Napi::CallbackInfo& info);
  void EnableLora(const Napi::CallbackInfo& info);
  Napi::Value LoraRank(const Napi::CallbackInfo& info);

  std::unique_ptr<UNet2DCondition> model_;
  std::atomic<bool> busy_{false};
};

}  // namespace cxrl
