// JavaScript functions for the RL kernels: the fused DDIM step with log-prob and its backward,
// the PPO loss, on the CPU or CUDA; Philox noise and forward noising.
// Inputs are read in place from the caller's typed arrays (the calls are synchronous).
#include <napi.h>

#include "binding/options.h"
#include "binding/schedule_binding.h"
#include "binding/step_options.h"
#include "rl/ddim_step.h"
#include "rl/device_kernels.h"
#include "rl/noising.h"
#include "rl/ppo.h"

namespace cxrl {
// Declared in binding/step_options.h (the UNet's policyStep reads the same options).
void step_schedule(const Options& o, DdimStepArgs& a) {
  if (o.has("schedule")) {
    const DdimSchedule* s = DdimScheduleWrap::unwrap(o.get("schedule"));
    if (!s) throw o.type_error("schedule must be a DdimSchedule");
    for (const char* k : {"alphaBarT", "alphaBarPrev", "predictionType", "clipSample", "clipSampleRange"})
      if (o.has(k)) throw o.type_error(std::string(k) + " comes from the schedule; do not pass both");
    std::vector<int> idx;
    for (double d : o.per_sample("stepIndex", a.batch)) {
      if (d != (double)(int)d) throw o.range_error("stepIndex must hold integers");
      idx.push_back((int)d);
    }
    rethrow(o.object().Env(), [&] {
      s->fill_step_args(idx, a);
      return 0;
    });
    return;
  }
  a.alpha_bar_t = o.per_sample("alphaBarT", a.batch);
  a.alpha_bar_prev = o.per_sample("alphaBarPrev", a.batch);
  a.prediction = prediction_type_option(o, "predictionType");
  a.clip_sample = o.boolean("clipSample", false);
  a.clip_range = o.number("clipSampleRange", 1.0);
}

namespace {

struct BatchDims {
  int64_t batch, per_sample;
};

BatchDims batch_dims(const Options& o) { return {o.integer("batch", 1), o.integer("perSample", 1)}; }

bool use_cuda(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return false;
  const std::string d = info[index].IsString() ? info[index].As<Napi::String>().Utf8Value() : "";
  if (d != "cpu" && d != "cuda") throw Napi::TypeError::New(info.Env(), "device must be 'cpu' or 'cuda'");
  return d == "cuda";
}

DdimStepArgs step_args(const Options& o) {
  DdimStepArgs a;
  const BatchDims dims = batch_dims(o);
  a.batch = dims.batch;
  a.per_sample = dims.per_sample;
  const int64_t n = a.batch * a.per_sample;
  a.sample = o.float32("sample", n);
  a.model_output = o.float32("modelOutput", n);
  a.model_output_uncond = o.float32_or_null("modelOutputUncond", n);
  a.guidance_scale = (float)o.number("guidanceScale", 1.0);
  step_schedule(o, a);
  a.eta = o.number("eta");  // no default here: each caller's settings own it (generation 0, RL 1)
  a.use_clipped_model_output = o.boolean("useClippedModelOutput", false);
  a.prev_sample_in = o.float32_or_null("prevSample", n);
  a.noise = o.float32_or_null("noise", n);
  if (a.prev_sample_in && a.noise) throw o.type_error("give either prevSample or noise, not both");
  a.noise_source = a.prev_sample_in ? NoiseSource::kGivenPrevSample
                   : a.noise        ? NoiseSource::kGivenNoise
                                    : NoiseSource::kSeeded;
  a.seed = (uint64_t)o.integer("seed", 0, 0);
  a.stream_offset = (uint64_t)o.integer("streamOffset", 0, 0);
  return a;
}

Napi::Value DdimStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DdimStepArgs a = step_args(Options::from(info, "ddimStep", "ddimStep(args, device?)"));
  const bool cuda = use_cuda(info, 1);
  Napi::Float32Array prev = Napi::Float32Array::New(env, a.batch * a.per_sample);
  Napi::Float64Array lp = Napi::Float64Array::New(env, a.batch);
  rethrow(env, [&] {
    if (cuda)
      rl_device_kernels(Device::kCuda).ddim_step(a, prev.Data(), lp.Data());
    else
      ddim_step_cpu(a, prev.Data(), lp.Data());
    return 0;
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("prevSample", prev);
  out.Set("logProb", lp);
  return out;
}

Napi::Value DdimStepBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "ddimStepBackward(args with prevSample, gradLogProb: Float64Array, device?)";
  const DdimStepArgs a = step_args(Options::from(info, "ddimStepBackward", usage));
  if (a.noise_source != NoiseSource::kGivenPrevSample)
    throw Napi::TypeError::New(env, "ddimStepBackward needs args.prevSample");
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      (int64_t)info[1].As<Napi::TypedArray>().ElementLength() != a.batch)
    throw Napi::TypeError::New(env, "ddimStepBackward: gradLogProb must be a Float64Array with one value per sample");
  const bool cuda = use_cuda(info, 2);
  const size_t n = a.batch * a.per_sample;
  Napi::Float32Array gm = Napi::Float32Array::New(env, n);
  Napi::Float32Array gu = Napi::Float32Array::New(env, a.model_output_uncond ? n : 0);
  const double* gp = info[1].As<Napi::Float64Array>().Data();
  rethrow(env, [&] {
    if (cuda)
      rl_device_kernels(Device::kCuda)
          .ddim_step_backward(a, gp, gm.Data(), a.model_output_uncond ? gu.Data() : nullptr);
    else
      ddim_step_backward_cpu(a, gp, gm.Data(), a.model_output_uncond ? gu.Data() : nullptr);
    return 0;
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("gradModelOutput", gm);
  if (a.model_output_uncond) out.Set("gradModelOutputUncond", gu);
  return out;
}

Napi::Value PpoLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Options o =
      Options::from(info, "ppoLoss", "ppoLoss({logProb, oldLogProb, advantages, clipRange, advClipMax}, device?)");
  Napi::Float64Array lp = o.float64_array("logProb");
  const int64_t n = (int64_t)lp.ElementLength();
  Napi::Float64Array old_lp = o.float64_array("oldLogProb", n), adv = o.float64_array("advantages", n);
  PpoArgs a;
  a.batch = (int64_t)lp.ElementLength();
  a.log_prob = lp.Data();
  a.old_log_prob = old_lp.Data();
  a.advantages = adv.Data();
  a.clip_range = o.number("clipRange");
  a.adv_clip_max = o.number("advClipMax");
  const bool cuda = use_cuda(info, 1);
  Napi::Float64Array grad = Napi::Float64Array::New(env, a.batch);
  const PpoStats s = rethrow(env, [&] {
    return cuda ? rl_device_kernels(Device::kCuda).ppo_loss(a, grad.Data()) : ppo_loss_cpu(a, grad.Data());
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", s.loss);
  out.Set("approxKl", s.approx_kl);
  out.Set("clipfrac", s.clipfrac);
  out.Set("gradLogProb", grad);
  return out;
}

// randn({seed, streamOffset, batch, perSample}) -> Float32Array of standard normals (Philox).
Napi::Value Randn(const Napi::CallbackInfo& info) {
  const Options o = Options::from(info, "randn", "randn({seed, streamOffset, batch, perSample})");
  const BatchDims d = batch_dims(o);
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), d.batch * d.per_sample);
  gaussian_noise((uint64_t)o.integer("seed", 0, 0), (uint64_t)o.integer("streamOffset", 0, 0), d.batch, d.per_sample,
                 out.Data());
  return out;
}

// addNoise({sample, noise, alphaBar, batch, perSample}) -> x_t
Napi::Value AddNoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Options o = Options::from(info, "addNoise", "addNoise({sample, noise, alphaBar, batch, perSample})");
  const BatchDims d = batch_dims(o);
  const int64_t B = d.batch, N = d.per_sample;
  const float* x0 = o.float32("sample", B * N);
  const float* eps = o.float32("noise", B * N);
  const std::vector<double> abar = o.per_sample("alphaBar", B);
  Napi::Float32Array out = Napi::Float32Array::New(env, B * N);
  rethrow(env, [&] {
    add_noise(x0, eps, abar, B, N, out.Data());
    return 0;
  });
  return out;
}

}  // namespace

void init_rl_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("DdimSchedule", DdimScheduleWrap::Init(env));
  exports.Set("ddimStep", Napi::Function::New(env, DdimStep));
  exports.Set("ddimStepBackward", Napi::Function::New(env, DdimStepBackward));
  exports.Set("ppoLoss", Napi::Function::New(env, PpoLoss));
  exports.Set("randn", Napi::Function::New(env, Randn));
  exports.Set("addNoise", Napi::Function::New(env, AddNoise));
}

}  // namespace cxrl
