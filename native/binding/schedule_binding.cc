#include "binding/schedule_binding.h"

#include <cstring>

#include "binding/convert.h"
#include "binding/options.h"

namespace cxrl {

Napi::FunctionReference DdimScheduleWrap::constructor_;

Napi::Function DdimScheduleWrap::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "DdimSchedule",
                                 {InstanceMethod("step", &DdimScheduleWrap::Step),
                                  InstanceAccessor("timesteps", &DdimScheduleWrap::Timesteps, nullptr),
                                  InstanceAccessor("alphasCumprod", &DdimScheduleWrap::AlphasCumprod, nullptr),
                                  InstanceAccessor("finalAlphaCumprod", &DdimScheduleWrap::FinalAlphaCumprod, nullptr),
                                  InstanceAccessor("betas", &DdimScheduleWrap::Betas, nullptr)});
  constructor_ = Napi::Persistent(f);
  return f;
}

PredictionType prediction_type_option(const Options& o, const char* key) {
  const std::string p = o.choice(key, "epsilon", {"epsilon", "sample", "v_prediction"});
  return p == "epsilon"  ? PredictionType::kEpsilon
         : p == "sample" ? PredictionType::kSample
                         : PredictionType::kVPrediction;
}

namespace {
// diffusers' scheduler_config.json keys; absent keys take Stable Diffusion v1.x's values.
ScheduleConfig schedule_config(const Options& o) {
  ScheduleConfig c;
  c.num_train_timesteps = (int)o.integer("num_train_timesteps", c.num_train_timesteps, 2);
  c.beta_start = o.number("beta_start", c.beta_start);
  c.beta_end = o.number("beta_end", c.beta_end);
  c.beta_schedule = o.choice("beta_schedule", c.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"});
  c.set_alpha_to_one = o.boolean("set_alpha_to_one", c.set_alpha_to_one);
  c.steps_offset = (int)o.integer("steps_offset", c.steps_offset, 0);
  c.timestep_spacing = o.choice("timestep_spacing", c.timestep_spacing, {"leading", "trailing", "linspace"});
  c.prediction_type = prediction_type_option(o, "prediction_type");
  c.clip_sample = o.boolean("clip_sample", c.clip_sample);
  c.clip_sample_range = o.number("clip_sample_range", c.clip_sample_range);
  return c;
}
}  // namespace

// new DdimSchedule(schedulerConfig (diffusers keys), numInferenceSteps)
DdimScheduleWrap::DdimScheduleWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DdimScheduleWrap>(info) {
  const char* usage = "new DdimSchedule(schedulerConfig: object, numInferenceSteps: number)";
  const Options o = Options::from(info, "scheduler config", usage);
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(info.Env(), usage);
  const double steps = info[1].As<Napi::Number>().DoubleValue();
  const ScheduleConfig c = schedule_config(o);
  if (steps != (double)(int)steps)
    throw Napi::RangeError::New(info.Env(), "num_inference_steps must be an integer, got " + std::to_string(steps));
  schedule_ = rethrow(info.Env(), [&] { return std::make_unique<DdimSchedule>(c, (int)steps); });
}

const DdimSchedule* DdimScheduleWrap::unwrap(const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(constructor_.Value())) return nullptr;
  return &Napi::ObjectWrap<DdimScheduleWrap>::Unwrap(v.As<Napi::Object>())->schedule();
}

// step(i) -> {t, prevT, alphaBarT, alphaBarPrev}
Napi::Value DdimScheduleWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "step(stepIndex: number)");
  const int i = info[0].As<Napi::Number>().Int32Value();
  Napi::Object out = Napi::Object::New(env);
  rethrow(env, [&] {
    out.Set("t", schedule_->timestep(i));
    out.Set("prevT", schedule_->prev_timestep(i));
    out.Set("alphaBarT", schedule_->alpha_bar_t(i));
    out.Set("alphaBarPrev", schedule_->alpha_bar_prev(i));
    return 0;
  });
  return out;
}

Napi::Value DdimScheduleWrap::Timesteps(const Napi::CallbackInfo& info) {
  const std::vector<int>& ts = schedule_->timesteps();
  Napi::Int32Array out = Napi::Int32Array::New(info.Env(), ts.size());
  std::memcpy(out.Data(), ts.data(), ts.size() * sizeof(int));
  return out;
}

Napi::Value DdimScheduleWrap::AlphasCumprod(const Napi::CallbackInfo& info) {
  return doubles_to_js(info.Env(), schedule_->noise().alphas_cumprod);
}
Napi::Value DdimScheduleWrap::Betas(const Napi::CallbackInfo& info) {
  return doubles_to_js(info.Env(), schedule_->noise().betas);
}
Napi::Value DdimScheduleWrap::FinalAlphaCumprod(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), schedule_->noise().final_alpha_cumprod);
}

}  // namespace cxrl
