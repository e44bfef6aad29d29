// One asynchronous engine call as a JS promise: `job` runs on the engine thread (engine_thread.h),
// then the promise resolves with to_js(env) of what the job left behind, or rejects with its
// error. The owning JS object is referenced and marked busy until then, so it is neither collected
// nor used by a second call while the job runs. Every model wrap's *Async method goes through here.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <utility>

#include "binding/engine_thread.h"

namespace cxrl {

class EngineJob : public Napi::AsyncWorker {
 public:
  using Job = std::function<void()>;
  using ToJs = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise queue(Napi::Env env, Napi::Reference<Napi::Object>& owner, std::atomic<bool>& busy, Job job,
                             ToJs to_js) {
    auto* w = new EngineJob(env, owner, busy, std::move(job), std::move(to_js));
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

  void Execute() override {
    try {
      run_on_engine_thread(job_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    finish();
    deferred_.Resolve(to_js_(Env()));
  }
  void OnError(const Napi::Error& e) override {
    finish();
    deferred_.Reject(e.Value());
  }

 private:
  EngineJob(Napi::Env env, Napi::Reference<Napi::Object>& owner, std::atomic<bool>& busy, Job job, ToJs to_js)
      : Napi::AsyncWorker(env),
        owner_(owner),
        busy_(busy),
        deferred_(Napi::Promise::Deferred::New(env)),
        job_(std::move(job)),
        to_js_(std::move(to_js)) {
    owner_.Ref();
    busy_ = true;
  }
  void finish() {
    busy_ = false;
    owner_.Unref();
  }

  Napi::Reference<Napi::Object>& owner_;
  std::atomic<bool>& busy_;
  Napi::Promise::Deferred deferred_;
  Job job_;
  ToJs to_js_;
};

}  // namespace cxrl
