// JavaScript class DdimSchedule: holds the engine's one DDIM scheduler (rl/schedule.h) for one
// sampling run. The fused step takes it with a step index (rl_binding.cc).
#pragma once
#include <napi.h>

#include <memory>

#include "binding/options.h"
#include "rl/schedule.h"

namespace cxrl {

// The prediction type named by option `key` (epsilon | sample | v_prediction; default epsilon).
PredictionType prediction_type_option(const Options& o, const char* key);

class DdimScheduleWrap : public Napi::ObjectWrap<DdimScheduleWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DdimScheduleWrap(const Napi::CallbackInfo& info);
  const DdimSchedule& schedule() const { return *schedule_; }
  // The DdimSchedule behind a JS value, or null when it is not one.
  static const DdimSchedule* unwrap(const Napi::Value& v);

 private:
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Timesteps(const Napi::CallbackInfo& info);
  Napi::Value AlphasCumprod(const Napi::CallbackInfo& info);
  Napi::Value FinalAlphaCumprod(const Napi::CallbackInfo& info);
  Napi::Value Betas(const Napi::CallbackInfo& info);

  static Napi::FunctionReference constructor_;
  std::unique_ptr<DdimSchedule> schedule_;
};

}  // namespace cxrl
