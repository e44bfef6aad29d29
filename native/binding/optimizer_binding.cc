// JavaScript class Optimizer: AdamW (or Adam) over all parameters of a model (UNet or
// TextEncoder), with gradient clipping and checkpointable state.
#include <napi.h>

#include <memory>

#include "binding/convert.h"
#include "binding/options.h"
#include "binding/param_methods.h"
#include "io/safetensors.h"
#include "model/ema.h"
#include "model/optimizer.h"

namespace cxrl {

class OptimizerWrap : public Napi::ObjectWrap<OptimizerWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Optimizer",
                       {
                           InstanceMethod("step", &OptimizerWrap::Step),
                           InstanceMethod("clipGradNorm", &OptimizerWrap::ClipGradNorm),
                           InstanceMethod("setLr", &OptimizerWrap::SetLr),
                           InstanceMethod("steps", &OptimizerWrap::Steps),
                           InstanceMethod("saveState", &OptimizerWrap::SaveState),
                           InstanceMethod("loadState", &OptimizerWrap::LoadState),
                       });
  }

  // new Optimizer(model: UNet | TextEncoder, {lr, beta1, beta2, eps, weightDecay, decoupled})
  explicit OptimizerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OptimizerWrap>(info) {
    Napi::Env env = info.Env();
    model_ = info.Length() >= 2 && info[1].IsObject() ? unwrap_trainable(info[0]) : nullptr;
    if (!model_) throw Napi::TypeError::New(env, "new Optimizer(model: UNet | TextEncoder, options: object)");
    model_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    const Options o(info[1].As<Napi::Object>(), "optimizer");
    AdamConfig c;
    c.lr = (float)o.number("lr", c.lr);
    c.beta1 = (float)o.number("beta1", c.beta1);
    c.beta2 = (float)o.number("beta2", c.beta2);
    c.eps = (float)o.number("eps", c.eps);
    c.weight_decay = (float)o.number("weightDecay", c.weight_decay);
    c.decoupled = o.boolean("decoupled", c.decoupled);
    std::vector<Param*> ps;
    for (const auto& p : model_->param_store().all())
      if (p->trainable) ps.push_back(p.get());  // a LoRA-adapted model: the adapters only
    opt_ = std::make_unique<AdamOptimizer>(ps, c);
    params_ = ps;
  }

 private:
  void Step(const Napi::CallbackInfo& info) {
    model_->check_idle(info.Env());
    opt_->step();
  }
  Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
    model_->check_idle(info.Env());
    const double max_norm = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
    return Napi::Number::New(info.Env(), clip_grad_norm(params_, max_norm));
  }
  void SetLr(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "setLr(lr: number)");
    opt_->cfg().lr = info[0].As<Napi::Number>().FloatValue();
  }
  Napi::Value Steps(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)opt_->steps()); }
  void SaveState(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "saveState(path)");
    try {
      write_safetensors(info[0].As<Napi::String>().Utf8Value(), opt_->state_tensors(),
                        {{"steps", std::to_string(opt_->steps())}});
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }
  void LoadState(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "loadState(path)");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    try {
      SafetensorsFile f = read_safetensors(path);
      opt_->load_state(f.tensors, f.metadata.count("steps") ? std::stoll(f.metadata["steps"]) : 0);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());  // read_safetensors names the file
    }
  }

  TrainableWrap* model_ = nullptr;  // the model whose parameters are optimised
  Napi::ObjectReference model_ref_;
  std::unique_ptr<AdamOptimizer> opt_;
  std::vector<Param*> params_;
};

Napi::Function init_optimizer_class(Napi::Env env) { return OptimizerWrap::Init(env); }

// emaUpdate(shadow, live, decay, step?): shadow <- d * shadow + (1 - d) * live with
// d = min(decay, (1 + step) / (10 + step)) when step is given, else d = decay. Returns d.
static Napi::Value EmaUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TrainableWrap* shadow = info.Length() >= 3 ? unwrap_trainable(info[0]) : nullptr;
  TrainableWrap* live = info.Length() >= 3 ? unwrap_trainable(info[1]) : nullptr;
  if (!shadow || !live || !info[2].IsNumber())
    throw Napi::TypeError::New(env, "emaUpdate(shadow, live, decay: number, step?: number)");
  const double decay = info[2].As<Napi::Number>().DoubleValue();
  if (!(decay >= 0 && decay <= 1)) throw Napi::RangeError::New(env, "emaUpdate: decay must be in [0, 1]");
  shadow->check_idle(env);
  live->check_idle(env);
  const float d = info.Length() >= 4 && info[3].IsNumber()
                      ? ema_decay_at((float)decay, info[3].As<Napi::Number>().Int64Value())
                      : (float)decay;
  try {
    ema_update(shadow->param_store(), live->param_store(), d);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return Napi::Number::New(env, d);
}

void init_ema_function(Napi::Env env, Napi::Object exports) {
  exports.Set("emaUpdate", Napi::Function::New(env, EmaUpdate));
}

}  // namespace cxrl
