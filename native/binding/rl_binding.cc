// JavaScript functions for the RL kernels: noise schedules, the fused DDIM step with log-prob and
// its backward, the PPO loss, on the CPU or CUDA, plus native benchmarks of the step.
// Inputs are read in place from the caller's typed arrays (the calls are synchronous).
#include <napi.h>

#include <chrono>
#include <cstring>

#include "core/parallel.h"
#include "cuda/rl_cuda.h"
#include "rl/ddim_step.h"
#include "rl/noising.h"
#include "rl/ppo.h"
#include "rl/schedule.h"

namespace cxrl {
namespace {

Napi::Error type_error(Napi::Env env, const std::string& m) { return Napi::TypeError::New(env, m); }

const float* f32_arg(const Napi::Object& o, const char* key, size_t n, bool required) {
  Napi::Env env = o.Env();
  if (!o.Has(key) || o.Get(key).IsUndefined() || o.Get(key).IsNull()) {
    if (required) throw type_error(env, std::string(key) + " is required");
    return nullptr;
  }
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw type_error(env, std::string(key) + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != n)
    throw Napi::RangeError::New(env, std::string(key) + ": expected " + std::to_string(n) + " values, got " +
                                         std::to_string(a.ElementLength()));
  return a.Data();
}

// A number, or an array-like of numbers: broadcast to n values.
std::vector<double> per_sample(const Napi::Object& o, const char* key, size_t n) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  std::vector<double> out;
  if (v.IsNumber()) {
    out.assign(n, v.As<Napi::Number>().DoubleValue());
  } else if (v.IsTypedArray() || v.IsArray()) {
    Napi::Object arr = v.As<Napi::Object>();
    const uint32_t len =
        v.IsArray() ? v.As<Napi::Array>().Length() : (uint32_t)v.As<Napi::TypedArray>().ElementLength();
    if (len == 1)
      out.assign(n, arr.Get(0u).As<Napi::Number>().DoubleValue());
    else if (len == n)
      for (uint32_t i = 0; i < len; ++i) out.push_back(arr.Get(i).As<Napi::Number>().DoubleValue());
    else
      throw Napi::RangeError::New(env, std::string(key) + ": expected 1 or " + std::to_string(n) + " values");
  } else {
    throw type_error(env, std::string(key) + " must be a number or one number per sample");
  }
  return out;
}

double num_opt(const Napi::Object& o, const char* key, double dflt) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return dflt;
  if (!o.Get(key).IsNumber()) throw type_error(o.Env(), std::string(key) + " must be a number");
  return o.Get(key).As<Napi::Number>().DoubleValue();
}

bool bool_opt(const Napi::Object& o, const char* key, bool dflt) {
  return o.Has(key) && !o.Get(key).IsUndefined() ? o.Get(key).ToBoolean().Value() : dflt;
}

// The call's single options object, or a TypeError showing the usage.
Napi::Object options_arg(const Napi::CallbackInfo& info, const char* usage) {
  if (info.Length() < 1 || !info[0].IsObject()) throw type_error(info.Env(), usage);
  return info[0].As<Napi::Object>();
}

struct BatchDims {
  int64_t batch, per_sample;
};

// {batch, perSample}: both positive integers, or a TypeError naming the function.
BatchDims batch_dims(const Napi::Object& o, const char* fn) {
  const BatchDims d{(int64_t)num_opt(o, "batch", 0), (int64_t)num_opt(o, "perSample", 0)};
  if (d.batch <= 0 || d.per_sample <= 0)
    throw type_error(o.Env(), std::string(fn) + ": batch and perSample must be positive integers");
  return d;
}

bool use_cuda(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return false;
  const std::string d = info[index].ToString().Utf8Value();
  if (d != "cpu" && d != "cuda") throw type_error(info.Env(), "device must be 'cpu' or 'cuda'");
  return d == "cuda";
}

DdimStepArgs step_args(const Napi::Object& o) {
  Napi::Env env = o.Env();
  DdimStepArgs a;
  const BatchDims dims = batch_dims(o, "ddim step");
  a.batch = dims.batch;
  a.per_sample = dims.per_sample;
  const size_t n = (size_t)(a.batch * a.per_sample);
  a.sample = f32_arg(o, "sample", n, true);
  a.model_output = f32_arg(o, "modelOutput", n, true);
  a.model_output_uncond = f32_arg(o, "modelOutputUncond", n, false);
  a.guidance_scale = (float)num_opt(o, "guidanceScale", 1.0);
  a.alpha_bar_t = per_sample(o, "alphaBarT", a.batch);
  a.alpha_bar_prev = per_sample(o, "alphaBarPrev", a.batch);
  a.eta = num_opt(o, "eta", 1.0);
  const std::string pt = o.Has("predictionType") && !o.Get("predictionType").IsUndefined()
                             ? o.Get("predictionType").ToString().Utf8Value()
                             : "epsilon";
  if (pt == "epsilon")
    a.prediction = PredictionType::kEpsilon;
  else if (pt == "sample")
    a.prediction = PredictionType::kSample;
  else if (pt == "v_prediction")
    a.prediction = PredictionType::kVPrediction;
  else
    throw type_error(env, "predictionType must be epsilon, sample or v_prediction, got " + pt);
  a.clip_sample = bool_opt(o, "clipSample", false);
  a.clip_range = num_opt(o, "clipSampleRange", 1.0);
  a.use_clipped_model_output = bool_opt(o, "useClippedModelOutput", false);
  a.prev_sample_in = f32_arg(o, "prevSample", n, false);
  a.noise = f32_arg(o, "noise", n, false);
  if (a.prev_sample_in && a.noise) throw type_error(env, "give either prevSample or noise, not both");
  a.noise_source = a.prev_sample_in ? NoiseSource::kGivenPrevSample
                   : a.noise        ? NoiseSource::kGivenNoise
                                    : NoiseSource::kSeeded;
  a.seed = (uint64_t)num_opt(o, "seed", 0);
  a.stream_offset = (uint64_t)num_opt(o, "streamOffset", 0);
  return a;
}

template <typename F>
auto rethrow(Napi::Env env, F fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Value DdimStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw type_error(env, "ddimStep(args, device?)");
  const DdimStepArgs a = step_args(info[0].As<Napi::Object>());
  const bool cuda = use_cuda(info, 1);
  Napi::Float32Array prev = Napi::Float32Array::New(env, a.batch * a.per_sample);
  Napi::Float64Array lp = Napi::Float64Array::New(env, a.batch);
  rethrow(env, [&] {
    if (cuda)
      ddim_step_cuda_host(a, prev.Data(), lp.Data());
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
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsTypedArray())
    throw type_error(env, "ddimStepBackward(args with prevSample, gradLogProb: Float64Array, device?)");
  const DdimStepArgs a = step_args(info[0].As<Napi::Object>());
  if (a.noise_source != NoiseSource::kGivenPrevSample) throw type_error(env, "ddimStepBackward needs args.prevSample");
  Napi::TypedArray g = info[1].As<Napi::TypedArray>();
  if (g.TypedArrayType() != napi_float64_array || (int64_t)g.ElementLength() != a.batch)
    throw type_error(env, "gradLogProb must be a Float64Array with one value per sample");
  const bool cuda = use_cuda(info, 2);
  const size_t n = a.batch * a.per_sample;
  Napi::Float32Array gm = Napi::Float32Array::New(env, n);
  Napi::Float32Array gu = Napi::Float32Array::New(env, a.model_output_uncond ? n : 0);
  const double* gp = g.As<Napi::Float64Array>().Data();
  rethrow(env, [&] {
    if (cuda)
      ddim_step_backward_cuda_host(a, gp, gm.Data(), a.model_output_uncond ? gu.Data() : nullptr);
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
  if (info.Length() < 1 || !info[0].IsObject())
    throw type_error(env, "ppoLoss({logProb, oldLogProb, advantages, clipRange, advClipMax}, device?)");
  Napi::Object o = info[0].As<Napi::Object>();
  auto f64 = [&](const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw type_error(env, std::string(key) + " must be a Float64Array");
    return v.As<Napi::Float64Array>();
  };
  Napi::Float64Array lp = f64("logProb"), old_lp = f64("oldLogProb"), adv = f64("advantages");
  if (old_lp.ElementLength() != lp.ElementLength() || adv.ElementLength() != lp.ElementLength())
    throw Napi::RangeError::New(env, "logProb, oldLogProb and advantages must have the same length");
  PpoArgs a;
  a.batch = (int64_t)lp.ElementLength();
  a.log_prob = lp.Data();
  a.old_log_prob = old_lp.Data();
  a.advantages = adv.Data();
  a.clip_range = num_opt(o, "clipRange", 1e-4);
  a.adv_clip_max = num_opt(o, "advClipMax", 5.0);
  const bool cuda = use_cuda(info, 1);
  Napi::Float64Array grad = Napi::Float64Array::New(env, a.batch);
  const PpoStats s =
      rethrow(env, [&] { return cuda ? ppo_loss_cuda_host(a, grad.Data()) : ppo_loss_cpu(a, grad.Data()); });
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", s.loss);
  out.Set("approxKl", s.approx_kl);
  out.Set("clipfrac", s.clipfrac);
  out.Set("gradLogProb", grad);
  return out;
}

ScheduleConfig schedule_config(const Napi::Object& o) {
  ScheduleConfig c;
  c.num_train_timesteps = (int)num_opt(o, "numTrainTimesteps", c.num_train_timesteps);
  c.beta_start = num_opt(o, "betaStart", c.beta_start);
  c.beta_end = num_opt(o, "betaEnd", c.beta_end);
  if (o.Has("betaSchedule") && !o.Get("betaSchedule").IsUndefined())
    c.beta_schedule = o.Get("betaSchedule").ToString().Utf8Value();
  c.set_alpha_to_one = bool_opt(o, "setAlphaToOne", c.set_alpha_to_one);
  c.steps_offset = (int)num_opt(o, "stepsOffset", c.steps_offset);
  if (o.Has("timestepSpacing") && !o.Get("timestepSpacing").IsUndefined())
    c.timestep_spacing = o.Get("timestepSpacing").ToString().Utf8Value();
  return c;
}

Napi::Value NoiseScheduleFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ScheduleConfig c =
      schedule_config(info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env));
  const NoiseSchedule s = rethrow(env, [&] { return make_noise_schedule(c); });
  Napi::Float64Array betas = Napi::Float64Array::New(env, s.betas.size()),
                     ac = Napi::Float64Array::New(env, s.betas.size());
  std::memcpy(betas.Data(), s.betas.data(), s.betas.size() * 8);
  std::memcpy(ac.Data(), s.alphas_cumprod.data(), s.betas.size() * 8);
  Napi::Object out = Napi::Object::New(env);
  out.Set("betas", betas);
  out.Set("alphasCumprod", ac);
  out.Set("finalAlphaCumprod", s.final_alpha_cumprod);
  return out;
}

Napi::Value DdimTimestepsFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber())
    throw type_error(env, "ddimTimesteps(scheduleConfig, numInferenceSteps)");
  const ScheduleConfig c = schedule_config(info[0].As<Napi::Object>());
  const std::vector<int> ts = rethrow(env, [&] { return ddim_timesteps(c, info[1].As<Napi::Number>().Int32Value()); });
  Napi::Int32Array out = Napi::Int32Array::New(env, ts.size());
  std::memcpy(out.Data(), ts.data(), ts.size() * 4);
  return out;
}

// benchDdimStepCpu({batch, perSample, guidance, source: 'seeded'|'noise'|'prev', iters})
//   -> {fusedSeconds, unfusedSeconds, copySeconds, bytesMoved}
Napi::Value BenchDdimStepCpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  const int64_t B = (int64_t)num_opt(o, "batch", 8), N = (int64_t)num_opt(o, "perSample", 4096);
  const bool guidance = bool_opt(o, "guidance", true);
  const std::string src = o.Has("source") ? o.Get("source").ToString().Utf8Value() : "seeded";
  const int iters = (int)num_opt(o, "iters", 10);
  const size_t n = B * N;
  std::vector<float> x(n, 0.1f), m(n, 0.2f), u(n, 0.3f), given(n, 0.05f), prev(n);
  std::vector<double> lp(B);
  DdimStepArgs a;
  a.batch = B;
  a.per_sample = N;
  a.sample = x.data();
  a.model_output = m.data();
  a.model_output_uncond = guidance ? u.data() : nullptr;
  a.guidance_scale = 5.f;
  a.alpha_bar_t.assign(B, 0.5);
  a.alpha_bar_prev.assign(B, 0.6);
  a.noise_source = src == "prev"    ? NoiseSource::kGivenPrevSample
                   : src == "noise" ? NoiseSource::kGivenNoise
                                    : NoiseSource::kSeeded;
  a.noise = given.data();
  a.prev_sample_in = given.data();
  auto seconds = [&](auto fn) {
    fn();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
  };
  const double fused = seconds([&] { ddim_step_cpu(a, prev.data(), lp.data()); });
  const double unfused = seconds([&] { ddim_step_unfused_cpu(a, prev.data(), lp.data()); });
  const int reads = 1 + (guidance ? 2 : 1) + (a.noise_source == NoiseSource::kSeeded ? 0 : 1);
  const double bytes = (double)n * 4 * (reads + 1);
  // Threaded copy of the same bytes (half read, half written) as the bandwidth yardstick.
  const size_t cn = (size_t)(bytes / 8);
  std::vector<float> cs(cn, 1.f), cd(cn);
  const double copy = seconds([&] {
    parallel_for((int64_t)cn, 1 << 16,
                 [&](int64_t s, int64_t e) { std::memcpy(cd.data() + s, cs.data() + s, (e - s) * 4); });
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("fusedSeconds", fused);
  out.Set("unfusedSeconds", unfused);
  out.Set("copySeconds", copy);
  out.Set("bytesMoved", bytes);
  return out;
}

Napi::Value BenchDdimStepCuda(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string src = o.Has("source") ? o.Get("source").ToString().Utf8Value() : "seeded";
  const NoiseSource s = src == "prev"    ? NoiseSource::kGivenPrevSample
                        : src == "noise" ? NoiseSource::kGivenNoise
                                         : NoiseSource::kSeeded;
  const StepTiming t = rethrow(env, [&] {
    return time_ddim_step_cuda((int64_t)num_opt(o, "batch", 8), (int64_t)num_opt(o, "perSample", 4096),
                               bool_opt(o, "guidance", true), s, (int)num_opt(o, "iters", 20));
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("fusedSeconds", t.step_seconds);
  out.Set("copySeconds", t.copy_seconds);
  out.Set("bytesMoved", t.bytes_moved);
  return out;
}

// randn({seed, streamOffset, batch, perSample}) -> Float32Array of standard normals (Philox).
Napi::Value Randn(const Napi::CallbackInfo& info) {
  const Napi::Object o = options_arg(info, "randn({seed, streamOffset, batch, perSample})");
  const BatchDims d = batch_dims(o, "randn");
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), d.batch * d.per_sample);
  gaussian_noise((uint64_t)num_opt(o, "seed", 0), (uint64_t)num_opt(o, "streamOffset", 0), d.batch, d.per_sample,
                 out.Data());
  return out;
}

// addNoise({sample, noise, alphaBar, batch, perSample}) -> x_t
Napi::Value AddNoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object o = options_arg(info, "addNoise({sample, noise, alphaBar, batch, perSample})");
  const BatchDims d = batch_dims(o, "addNoise");
  const int64_t B = d.batch, N = d.per_sample;
  const float* x0 = f32_arg(o, "sample", B * N, true);
  const float* eps = f32_arg(o, "noise", B * N, true);
  const std::vector<double> abar = per_sample(o, "alphaBar", B);
  Napi::Float32Array out = Napi::Float32Array::New(env, B * N);
  rethrow(env, [&] {
    add_noise(x0, eps, abar, B, N, out.Data());
    return 0;
  });
  return out;
}

}  // namespace

void init_rl_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("noiseSchedule", Napi::Function::New(env, NoiseScheduleFn));
  exports.Set("ddimTimesteps", Napi::Function::New(env, DdimTimestepsFn));
  exports.Set("ddimStep", Napi::Function::New(env, DdimStep));
  exports.Set("ddimStepBackward", Napi::Function::New(env, DdimStepBackward));
  exports.Set("ppoLoss", Napi::Function::New(env, PpoLoss));
  exports.Set("randn", Napi::Function::New(env, Randn));
  exports.Set("addNoise", Napi::Function::New(env, AddNoise));
  exports.Set("benchDdimStepCpu", Napi::Function::New(env, BenchDdimStepCpu));
  exports.Set("benchDdimStepCuda", Napi::Function::New(env, BenchDdimStepCuda));
}

}  // namespace cxrl
