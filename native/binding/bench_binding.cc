// addon.bench: benchmark-only functions (bench/step-bench.ts); nothing in src/ calls them.
//   bench.ddimStepCpu / bench.ddimStepCuda({batch, perSample, guidance, source: 'seeded'|'noise'|'prev', iters})
//     -> {fusedSeconds, unfusedSeconds, copySeconds, bytesMoved}
//   bench.fmaPeak({threads, seconds}) -> {gflops, threads, isa, flopsPerInstr}
//   bench.conv2dForward({batch, cin, cout, size, k, kernel: 'direct'|'im2col', iters}) -> seconds per call
#include <napi.h>

#include "bench/conv_bench.h"
#include "bench/ddim_step_bench.h"
#include "bench/fma_peak.h"
#include "binding/options.h"
#include "rl/device_kernels.h"

namespace cxrl {
namespace {

StepBenchConfig bench_config(const Options& o, int default_iters) {
  StepBenchConfig c;
  c.batch = o.integer("batch", c.batch, 1);
  c.per_sample = o.integer("perSample", c.per_sample, 1);
  c.guidance = o.boolean("guidance", c.guidance);
  const std::string src = o.choice("source", "seeded", {"seeded", "noise", "prev"});
  c.source = src == "prev"    ? NoiseSource::kGivenPrevSample
             : src == "noise" ? NoiseSource::kGivenNoise
                              : NoiseSource::kSeeded;
  c.iters = (int)o.integer("iters", default_iters, 1);
  return c;
}

Napi::Object timing_to_js(Napi::Env env, const StepTiming& t) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("fusedSeconds", t.fused_seconds);
  out.Set("unfusedSeconds", t.unfused_seconds);
  out.Set("copySeconds", t.copy_seconds);
  out.Set("bytesMoved", t.bytes_moved);
  return out;
}

Napi::Value DdimStepCpu(const Napi::CallbackInfo& info) {
  const StepBenchConfig c = bench_config(Options::from(info, "bench.ddimStepCpu", "bench.ddimStepCpu(options)"), 10);
  return timing_to_js(info.Env(), rethrow(info.Env(), [&] { return bench_ddim_step_cpu(c); }));
}

Napi::Value DdimStepCuda(const Napi::CallbackInfo& info) {
  const StepBenchConfig c = bench_config(Options::from(info, "bench.ddimStepCuda", "bench.ddimStepCuda(options)"), 20);
  return timing_to_js(info.Env(),
                      rethrow(info.Env(), [&] { return rl_device_kernels(Device::kCuda).bench_ddim_step(c); }));
}

Napi::Value FmaPeakMeasure(const Napi::CallbackInfo& info) {
  const Options o = Options::from(info, "bench.fmaPeak", "bench.fmaPeak({threads, seconds})");
  const int threads = (int)o.integer("threads", 1, 1);
  const double seconds = o.number("seconds", 1.0);
  const FmaPeak p = rethrow(info.Env(), [&] { return measure_fma_peak(threads, seconds); });
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("gflops", p.gflops);
  out.Set("threads", p.threads);
  out.Set("isa", p.isa);
  out.Set("flopsPerInstr", p.flops_per_instr);
  return out;
}

Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  const Options o =
      Options::from(info, "bench.conv2dForward", "bench.conv2dForward({batch, cin, cout, size, k, kernel, iters})");
  ConvBenchConfig c;
  c.batch = (int)o.integer("batch", c.batch, 1);
  c.cin = (int)o.integer("cin", c.cin, 1);
  c.cout = (int)o.integer("cout", c.cout, 1);
  c.size = (int)o.integer("size", c.size, 1);
  c.k = (int)o.integer("k", c.k, 1);
  c.direct = o.choice("kernel", "direct", {"direct", "im2col"}) == "direct";
  c.iters = (int)o.integer("iters", c.iters, 1);
  return Napi::Number::New(info.Env(), rethrow(info.Env(), [&] { return bench_conv2d_forward(c); }));
}

}  // namespace

void init_bench_functions(Napi::Env env, Napi::Object exports) {
  Napi::Object bench = Napi::Object::New(env);
  bench.Set("ddimStepCpu", Napi::Function::New(env, DdimStepCpu));
  bench.Set("ddimStepCuda", Napi::Function::New(env, DdimStepCuda));
  bench.Set("fmaPeak", Napi::Function::New(env, FmaPeakMeasure));
  bench.Set("conv2dForward", Napi::Function::New(env, Conv2dForward));
  exports.Set("bench", bench);
}

}  // namespace cxrl
