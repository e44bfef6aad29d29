#include "binding/unet_binding.h"

#include <memory>

#include "binding/convert.h"
#include "binding/engine_job.h"
#include "binding/options.h"
#include "binding/step_options.h"
#include "binding/tensor_binding.h"
#include "core/grad_mode.h"
#include "io/json.h"
#include "model/denoise_step.h"
#include "rl/policy_step.h"
#include "rl/sample_step.h"

namespace cxrl {

Napi::FunctionReference UNetWrap::constructor;

namespace {

struct ForwardArgs {
  Tensor sample, timestep, context, mask;
  bool has_mask = false;
  bool inference = false;  // keep nothing for a backward pass (sampling)
};

// forward({sample, timestep, encoderHiddenStates, encoderAttentionMask?, inference?}), tensors as {data, shape}.
ForwardArgs forward_args(const Napi::CallbackInfo& info, const std::string& fn = "forward") {
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(info.Env(), fn + ": expected {sample, timestep, encoderHiddenStates, ...}");
  Napi::Object o = info[0].As<Napi::Object>();
  ForwardArgs a;
  a.sample = tensor_from_js(o.Get("sample"), "sample");
  a.timestep = tensor_from_js(o.Get("timestep"), "timestep");
  a.context = tensor_from_js(o.Get("encoderHiddenStates"), "encoderHiddenStates");
  if (o.Has("encoderAttentionMask") && !o.Get("encoderAttentionMask").IsUndefined() &&
      !o.Get("encoderAttentionMask").IsNull()) {
    a.mask = tensor_from_js(o.Get("encoderAttentionMask"), "encoderAttentionMask");
    a.has_mask = true;
  }
  a.inference = Options(o, fn.c_str()).boolean("inference", false);
  return a;
}

void move_to(ForwardArgs& a, Device d) {
  a.sample = to_model_device(std::move(a.sample), d);
  a.timestep = to_model_device(std::move(a.timestep), d);
  a.context = to_model_device(std::move(a.context), d);
  if (a.has_mask) a.mask = to_model_device(std::move(a.mask), d);
}

UNetGrads to_host(UNetGrads g) {
  return UNetGrads{to_host(std::move(g.sample)), to_host(std::move(g.encoder_hidden_states))};
}

Napi::Object grads_to_js(Napi::Env env, const UNetGrads& g) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("sample", tensor_to_js(env, g.sample));
  o.Set("encoderHiddenStates", tensor_to_js(env, g.encoder_hidden_states));
  return o;
}

std::vector<double> copy_doubles(const Options& o, const char* key, int64_t n) {
  Napi::Float64Array a = o.float64_array(key, n);
  return std::vector<double>(a.Data(), a.Data() + n);
}

// policyStepAsync({sample, prevSample, anchorMean?: EngineTensor [B,C,H,W], timestep,
//   encoderHiddenStates, encoderAttentionMask?, schedule + stepIndex (or explicit alpha-bars), eta,
//   guidanceScale, oldLogProb, advantages, clipRange, advClipMax, lossScale, klWeight,
//   contextGradTokens?}). Everything is copied out of JavaScript here, before the job leaves the JS
//   thread (the handles' tensors: shared on a device, so the latents stay there).
std::shared_ptr<PolicyStepArgs> policy_step_args(const Napi::CallbackInfo& info) {
  const Options o = Options::from(info, "policyStepAsync", "policyStepAsync({sample: EngineTensor, ...})");
  auto args = std::make_shared<PolicyStepArgs>();
  PolicyStepArgs& a = *args;
  a.sample = unwrap_engine_tensor(o.get("sample"), "policyStepAsync: sample");
  if (a.sample.ndim() != 4) throw o.range_error("sample must be [B, C, H, W], got " + shape_str(a.sample.shape));
  a.prev_sample = unwrap_engine_tensor(o.get("prevSample"), "policyStepAsync: prevSample");
  if (o.has("anchorMean")) a.anchor_mean = unwrap_engine_tensor(o.get("anchorMean"), "policyStepAsync: anchorMean");
  const int64_t B = a.sample.dim(0);
  for (double t : o.per_sample("timestep", B)) a.timesteps.push_back((float)t);
  a.context = tensor_from_js(o.get("encoderHiddenStates"), "encoderHiddenStates");
  if (o.has("encoderAttentionMask")) a.mask = tensor_from_js(o.get("encoderAttentionMask"), "encoderAttentionMask");
  a.step.batch = B;
  step_schedule(o, a.step);
  a.step.eta = o.number("eta");
  a.step.guidance_scale = (float)o.number("guidanceScale", 1.0);
  a.old_log_prob = copy_doubles(o, "oldLogProb", B);
  a.advantages = copy_doubles(o, "advantages", B);
  a.clip_range = o.number("clipRange");
  a.adv_clip_max = o.number("advClipMax");
  a.loss_scale = o.number("lossScale", 1.0);
  a.kl_weight = o.number("klWeight", 0.0);
  a.context_grad_tokens = o.integer("contextGradTokens", -1, -1);
  return args;
}

Napi::Object policy_step_to_js(Napi::Env env, const PolicyStepResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.ppo.loss);
  o.Set("approxKl", r.ppo.approx_kl);
  o.Set("clipfrac", r.ppo.clipfrac);
  o.Set("klAnchor", r.kl_anchor);
  o.Set("logProb", doubles_to_js(env, r.log_prob));
  if (!r.grad_context.empty()) o.Set("gradContext", tensor_to_js(env, r.grad_context));
  return o;
}

// denoiseStepAsync({sample, timestep, encoderHiddenStates, encoderAttentionMask?, target, lossScale?}),
// tensors as {data, shape}.
std::shared_ptr<DenoiseStepArgs> denoise_step_args(const Napi::CallbackInfo& info) {
  ForwardArgs f = forward_args(info, "denoiseStepAsync");
  const Options o = Options::from(info, "denoiseStepAsync", "denoiseStepAsync({sample, timestep, ..., target})");
  auto a = std::make_shared<DenoiseStepArgs>();
  a->sample = std::move(f.sample);
  a->timesteps = std::move(f.timestep);
  a->context = std::move(f.context);
  if (f.has_mask) a->mask = std::move(f.mask);
  a->target = tensor_from_js(o.get("target"), "target");
  a->loss_scale = (float)o.number("lossScale", 1.0);
  return a;
}

// sampleStepAsync({sample: EngineTensor, timestep, encoderHiddenStates, encoderAttentionMask?,
//   schedule + stepIndex (or explicit alpha-bars), eta, guidanceScale, seed, streamOffset, keepMean?})
std::shared_ptr<SampleStepArgs> sample_step_args(const Napi::CallbackInfo& info) {
  const Options o = Options::from(info, "sampleStepAsync", "sampleStepAsync({sample: EngineTensor, ...})");
  auto a = std::make_shared<SampleStepArgs>();
  a->sample = unwrap_engine_tensor(o.get("sample"), "sampleStepAsync: sample");  // shared until written
  if (a->sample.ndim() != 4) throw o.range_error("sample must be [B, C, H, W]");
  const int64_t B = a->sample.dim(0);
  for (double t : o.per_sample("timestep", B)) a->timesteps.push_back((float)t);
  a->context = tensor_from_js(o.get("encoderHiddenStates"), "encoderHiddenStates");
  if (o.has("encoderAttentionMask")) a->mask = tensor_from_js(o.get("encoderAttentionMask"), "encoderAttentionMask");
  a->step.batch = B;
  step_schedule(o, a->step);
  a->step.eta = o.number("eta");
  a->step.guidance_scale = (float)o.number("guidanceScale", 1.0);
  a->step.seed = (uint64_t)o.integer("seed", 0, 0);
  a->step.stream_offset = (uint64_t)o.integer("streamOffset", 0, 0);
  a->keep_mean = o.boolean("keepMean", false);
  return a;
}

}  // namespace

Napi::Function UNetWrap::Init(Napi::Env env) {
  std::vector<Napi::ClassPropertyDescriptor<UNetWrap>> methods = param_methods();
  methods.push_back(InstanceMethod("configJson", &UNetWrap::ConfigJson));
  methods.push_back(InstanceMethod("forward", &UNetWrap::Forward));
  methods.push_back(InstanceMethod("backward", &UNetWrap::Backward));
  methods.push_back(InstanceMethod("forwardAsync", &UNetWrap::ForwardAsync));
  methods.push_back(InstanceMethod("backwardAsync", &UNetWrap::BackwardAsync));
  methods.push_back(InstanceMethod("policyStepAsync", &UNetWrap::PolicyStepAsync));
  methods.push_back(InstanceMethod("denoiseStepAsync", &UNetWrap::DenoiseStepAsync));
  methods.push_back(InstanceMethod("sampleStepAsync", &UNetWrap::SampleStepAsync));
  methods.push_back(InstanceMethod("enableLora", &UNetWrap::EnableLora));
  methods.push_back(InstanceMethod("loraRank", &UNetWrap::LoraRank));
  for (auto& m : device_methods()) methods.push_back(m);
  Napi::Function f = DefineClass(env, "UNet", methods);
  constructor = Napi::Persistent(f);
  return f;
}

// new UNet(configJsonText, seed)
UNetWrap::UNetWrap(const Napi::CallbackInfo& info) : ParamMethods<UNetWrap>(info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throw Napi::TypeError::New(info.Env(), "new UNet(configJson: string, seed: number)");
  try {
    UNetConfig cfg = UNetConfig::from_json(Json::parse(info[0].As<Napi::String>().Utf8Value()));
    model_ = std::make_unique<UNet2DCondition>(cfg, (uint64_t)info[1].As<Napi::Number>().Int64Value());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

void UNetWrap::check_idle(Napi::Env env) const {
  if (busy_) throw Napi::Error::New(env, "UNet is busy with an asynchronous forward/backward");
}

Napi::Value UNetWrap::ConfigJson(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), model_->config().to_json().dump());
}

Napi::Value UNetWrap::Forward(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  ForwardArgs a = forward_args(info);
  try {
    NoGradGuard no_grad(a.inference);
    move_to(a, model_->params().device());
    return tensor_to_js(info.Env(), model_->forward(a.sample, a.timestep, a.context, a.has_mask ? &a.mask : nullptr));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value UNetWrap::Backward(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  if (info.Length() < 1) throw Napi::TypeError::New(info.Env(), "backward(gradOutput: {data, shape})");
  Tensor g = tensor_from_js(info[0], "gradOutput");
  try {
    return grads_to_js(info.Env(), model_->backward(to_model_device(std::move(g), model_->params().device())));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value UNetWrap::ForwardAsync(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  auto args = std::make_shared<ForwardArgs>(forward_args(info));
  auto out = std::make_shared<Tensor>();
  return EngineJob::queue(
      info.Env(), *this, busy_,
      [this, args, out] {
        NoGradGuard no_grad(args->inference);
        move_to(*args, model_->params().device());
        *out = to_host(
            model_->forward(args->sample, args->timestep, args->context, args->has_mask ? &args->mask : nullptr));
      },
      [out](Napi::Env env) { return Napi::Value(tensor_to_js(env, *out)); });
}

Napi::Value UNetWrap::BackwardAsync(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  if (info.Length() < 1) throw Napi::TypeError::New(info.Env(), "backwardAsync(gradOutput: {data, shape})");
  auto grad = std::make_shared<Tensor>(tensor_from_js(info[0], "gradOutput"));
  auto out = std::make_shared<UNetGrads>();
  return EngineJob::queue(
      info.Env(), *this, busy_,
      [this, grad, out] {
        *out = to_host(model_->backward(to_model_device(std::move(*grad), model_->params().device())));
      },
      [out](Napi::Env env) { return Napi::Value(grads_to_js(env, *out)); });
}

// One pretraining micro-batch on the engine thread (model/denoise_step.h): parameter gradients
// accumulate in the UNet; resolves to {loss, gradContext}.
Napi::Value UNetWrap::DenoiseStepAsync(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  auto args = denoise_step_args(info);
  auto out = std::make_shared<DenoiseStepResult>();
  return EngineJob::queue(
      info.Env(), *this, busy_, [this, args, out] { *out = denoise_step(*model_, *args); },
      [out](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("loss", out->loss);
        o.Set("gradContext", tensor_to_js(env, out->grad_context));
        return Napi::Value(o);
      });
}

// One sampling step on the engine thread (rl/sample_step.h): resolves to {prevSample: EngineTensor
// on the UNet's device, logProb, mean?: EngineTensor}.
Napi::Value UNetWrap::SampleStepAsync(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  auto args = sample_step_args(info);
  auto out = std::make_shared<SampleStepResult>();
  return EngineJob::queue(
      info.Env(), *this, busy_, [this, args, out] { *out = sample_step(*model_, *args); },
      [out](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("prevSample", wrap_engine_tensor(env, std::move(out->prev_sample)));
        o.Set("logProb", doubles_to_js(env, out->log_prob));
        if (!out->mean.empty()) o.Set("mean", wrap_engine_tensor(env, std::move(out->mean)));
        return Napi::Value(o);
      });
}

// One trained RL step on the engine thread (rl/policy_step.h): parameter gradients accumulate in
// the UNet; resolves to the step's statistics, log-probs and d/d(context).
Napi::Value UNetWrap::PolicyStepAsync(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  auto args = policy_step_args(info);
  auto out = std::make_shared<PolicyStepResult>();
  return EngineJob::queue(
      info.Env(), *this, busy_, [this, args, out] { *out = policy_step(*model_, *args); },
      [out](Napi::Env env) { return Napi::Value(policy_step_to_js(env, *out)); });
}

// enableLora({rank, scale}): freezes the weights, adds LoRA adapters to every attention projection.
void UNetWrap::EnableLora(const Napi::CallbackInfo& info) {
  check_idle(info.Env());
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "enableLora({rank, scale})");
  const Options o(info[0].As<Napi::Object>(), "enableLora");
  const int rank = (int)o.integer("rank", 1);
  const double scale = o.number("scale", 1.0);
  try {
    model_->enable_lora(rank, (float)scale);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value UNetWrap::LoraRank(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), model_->lora_rank());
}

}  // namespace cxrl
