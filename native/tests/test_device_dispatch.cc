// The device dispatch without a GPU: an emulated device (host memory behind the DeviceStorage
// interface, each op run by its CPU twin between a download and an upload) takes the CUDA slot of
// the registry for the test. A UNet moved there must give bitwise the CPU's outputs and gradients,
// reach every op through the table, and never let CPU code touch a device tensor's values.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>

#include "distributed/flat_gradients.h"
#include "harness.h"
#include "io/json.h"
#include "model/denoise_step.h"
#include "model/ema.h"
#include "model/optimizer.h"
#include "model/text_encoder.h"
#include "model/training_device_ops.h"
#include "model/unet.h"
#include "model/unet_config.h"
#include "model/vae.h"
#include "model/vae_config.h"
#include "ops/device_ops.h"
#include "ops/gather.h"
#include "rl/device_kernels.h"
#include "rl/policy_step.h"
#include "rl/sample_step.h"

namespace cxrl::test {
namespace {

constexpr Device kEmulated = Device::kCuda;  // the slot the emulation occupies

// Device storages alive now: the lifetime test's measure of leaks.
std::atomic<int64_t>& live_storages() {
  static std::atomic<int64_t> n{0};
  return n;
}

class HostStorage final : public DeviceStorage {
 public:
  explicit HostStorage(int64_t n) : values_((size_t)n) { ++live_storages(); }
  HostStorage(const HostStorage& o) : DeviceStorage(), values_(o.values_) { ++live_storages(); }
  ~HostStorage() override { --live_storages(); }
  float* data() const override { return const_cast<float*>(values_.data()); }
  int64_t size() const override { return (int64_t)values_.size(); }
  std::unique_ptr<DeviceStorage> clone() const override { return std::make_unique<HostStorage>(*this); }

 private:
  std::vector<float> values_;
};

class EmulatedBackend final : public DeviceBackend {
 public:
  const DeviceStatus& status() const override {
    static const DeviceStatus s = [] {
      DeviceStatus e;
      e.compiled = e.usable = true;
      e.device_count = 1;
      e.device_name = "emulated device (host memory)";
      return e;
    }();
    return s;
  }
  std::unique_ptr<DeviceStorage> allocate(int64_t n) const override { return std::make_unique<HostStorage>(n); }
  void upload(DeviceStorage& dst, const float* src, int64_t n) const override {
    std::memcpy(dst.data(), src, n * sizeof(float));
  }
  void download(float* dst, const DeviceStorage& src, int64_t n) const override {
    std::memcpy(dst, src.data(), n * sizeof(float));
  }
  void fill(DeviceStorage& dst, float value, int64_t n) const override { std::fill(dst.data(), dst.data() + n, value); }
  DeviceMemory memory() const override { return DeviceMemory{}; }
  void reset_peak_memory() const override {}
  void copy(DeviceStorage& dst, int64_t dst_offset, const DeviceStorage& src, int64_t src_offset,
            int64_t n) const override {
    std::memcpy(dst.data() + dst_offset, src.data() + src_offset, n * sizeof(float));
  }
};

std::map<std::string, int>& calls() {
  static std::map<std::string, int> c;
  return c;
}

Tensor host(const Tensor& t) { return t.to(Device::kCpu); }
Tensor dev(const Tensor& t) { return t.to(kEmulated); }
// A device tensor's CPU copy (or an empty tensor for null), and back into *t after the CPU op.
Tensor host_or_empty(const Tensor* t) { return t ? host(*t) : Tensor(); }
void store(Tensor* t, const Tensor& h) {
  if (t) *t = dev(h);
}
// An in-place result written into the tensor's own storage, as a device kernel writes it: through
// mutable_device_data(), which clones a storage shared with another tensor (copy on write).
void write_into(Tensor* t, const Tensor& h) {
  if (t) std::memcpy(t->mutable_device_data(), h.v.data(), h.v.size() * sizeof(float));
}
Tensor* ptr(Tensor* t, Tensor& h) { return t ? &h : nullptr; }
const Tensor* cptr(const Tensor* t, const Tensor& h) { return t ? &h : nullptr; }
NormStats host_stats(const NormStats& s) { return NormStats{host(s.mean), host(s.rstd)}; }
AttentionCache host_cache(const AttentionCache& c) { return AttentionCache{host(c.probs), {}, {}, {}}; }

// Every entry: count the call, bring the arguments to the CPU, run the CPU op, return results to
// the device (accumulated gradients included).
const DeviceOps& emulated_ops() {
  static const DeviceOps ops{
      [](const Tensor& x, const Tensor& w, const Tensor* b) {
        ++calls()["linear_forward"];
        const Tensor hb = host_or_empty(b);
        return dev(linear_forward(host(x), host(w), cptr(b, hb)));
      },
      [](const Tensor& x, const Tensor& w, const Tensor& gy, Tensor* gx, Tensor* gw, Tensor* gb) {
        ++calls()["linear_backward"];
        Tensor hx, hw = host_or_empty(gw), hb = host_or_empty(gb);
        linear_backward(host(x), host(w), host(gy), ptr(gx, hx), ptr(gw, hw), ptr(gb, hb));
        store(gx, hx), write_into(gw, hw), write_into(gb, hb);
      },
      [](const Tensor& x, const Tensor& w, const Tensor* b, Conv2dGeom g) {
        ++calls()["conv2d_forward"];
        const Tensor hb = host_or_empty(b);
        return dev(conv2d_forward(host(x), host(w), cptr(b, hb), g));
      },
      [](const Tensor& x, const Tensor& w, const Tensor& gy, Conv2dGeom g, Tensor* gx, Tensor* gw, Tensor* gb) {
        ++calls()["conv2d_backward"];
        Tensor hx, hw = host_or_empty(gw), hb = host_or_empty(gb);
        conv2d_backward(host(x), host(w), host(gy), g, ptr(gx, hx), ptr(gw, hw), ptr(gb, hb));
        store(gx, hx), write_into(gw, hw), write_into(gb, hb);
      },
      [](const Tensor& x) { return ++calls()["silu_forward"], dev(silu_forward(host(x))); },
      [](const Tensor& x, const Tensor& gy) {
        return ++calls()["silu_backward"], dev(silu_backward(host(x), host(gy)));
      },
      [](const Tensor& x) { return ++calls()["gelu_forward"], dev(gelu_forward(host(x))); },
      [](const Tensor& x, const Tensor& gy) {
        return ++calls()["gelu_backward"], dev(gelu_backward(host(x), host(gy)));
      },
      [](const Tensor& x) { return ++calls()["geglu_forward"], dev(geglu_forward(host(x))); },
      [](const Tensor& x, const Tensor& gy) {
        return ++calls()["geglu_backward"], dev(geglu_backward(host(x), host(gy)));
      },
      [](const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, NormStats* stats, bool silu,
         Tensor* pre) {
        ++calls()[groups ? (silu ? "group_norm_silu_forward" : "group_norm_forward") : "layer_norm_forward"];
        NormStats hs;
        Tensor hpre;
        const Tensor y =
            groups == 0 ? layer_norm_forward(host(x), host(gamma), host(beta), eps, &hs)
            : silu      ? group_norm_silu_forward(host(x), groups, host(gamma), host(beta), eps, &hs, ptr(pre, hpre))
                        : group_norm_forward(host(x), groups, host(gamma), host(beta), eps, &hs);
        *stats = NormStats{dev(hs.mean), dev(hs.rstd)};
        store(pre, hpre);
        return dev(y);
      },
      [](const Tensor& x, int groups, const Tensor& gamma, const NormStats& stats, const Tensor& gy, Tensor* gx,
         Tensor* gg, Tensor* gb) {
        ++calls()[groups ? "group_norm_backward" : "layer_norm_backward"];
        Tensor hx, hg = host_or_empty(gg), hb = host_or_empty(gb);
        if (groups)
          group_norm_backward(host(x), groups, host(gamma), host_stats(stats), host(gy), ptr(gx, hx), ptr(gg, hg),
                              ptr(gb, hb));
        else
          layer_norm_backward(host(x), host(gamma), host_stats(stats), host(gy), ptr(gx, hx), ptr(gg, hg), ptr(gb, hb));
        store(gx, hx), write_into(gg, hg), write_into(gb, hb);
      },
      [](const Tensor& q, const Tensor& k, const Tensor& v, int heads, const Tensor* mask, AttentionCache* cache) {
        ++calls()["attention_forward"];
        const Tensor hm = host_or_empty(mask);
        AttentionCache hc;
        const Tensor y = attention_forward(host(q), host(k), host(v), heads, cptr(mask, hm), cache ? &hc : nullptr);
        if (cache) cache->probs = dev(hc.probs);
        return dev(y);
      },
      [](const Tensor& q, const Tensor& k, const Tensor& v, int heads, const AttentionCache& cache, const Tensor& gy,
         Tensor* gq, Tensor* gk, Tensor* gv) {
        ++calls()["attention_backward"];
        Tensor hq, hk, hv;
        attention_backward(host(q), host(k), host(v), heads, host_cache(cache), host(gy), &hq, &hk, &hv);
        store(gq, hq), store(gk, hk), store(gv, hv);
      },
      [](const Tensor& x) { return ++calls()["upsample_forward"], dev(upsample_nearest2x_forward(host(x))); },
      [](const Tensor& gy) { return ++calls()["upsample_backward"], dev(upsample_nearest2x_backward(host(gy))); },
      [](const Tensor& x, int64_t b, int64_t r) {
        return ++calls()["pad_forward"], dev(pad_bottom_right_forward(host(x), b, r));
      },
      [](const Tensor& gy, int64_t b, int64_t r) {
        return ++calls()["pad_backward"], dev(pad_bottom_right_backward(host(gy), b, r));
      },
      [](const Tensor& a, const Tensor& b) {
        return ++calls()["concat_forward"], dev(concat_channels_forward(host(a), host(b)));
      },
      [](const Tensor& gy, int64_t ca, Tensor* ga, Tensor* gb) {
        ++calls()["concat_backward"];
        Tensor ha, hb;
        concat_channels_backward(host(gy), ca, &ha, &hb);
        store(ga, ha), store(gb, hb);
      },
      [](const Tensor& a, const Tensor& b) { return ++calls()["add"], dev(add(host(a), host(b))); },
      [](Tensor* acc, const Tensor& b, float scale) {
        ++calls()["add_scaled_inplace"];
        Tensor h = host(*acc);
        add_scaled_inplace(&h, host(b), scale);
        write_into(acc, h);
      },
      [](Tensor* h, const Tensor& t) {
        ++calls()["add_plane_bias"];
        Tensor hh = host(*h);
        add_plane_bias(&hh, host(t));
        write_into(h, hh);
      },
      [](const Tensor& g) { return ++calls()["plane_sums"], dev(plane_sums(host(g))); },
      [](const Tensor& x) { return ++calls()["nchw_to_tokens"], dev(nchw_to_tokens(host(x))); },
      [](const Tensor& t, int64_t H, int64_t W) {
        return ++calls()["tokens_to_nchw"], dev(tokens_to_nchw(host(t), H, W));
      },
      [](const Tensor& t, const TimestepEmbeddingSpec& s) {
        return ++calls()["timestep_embedding"], dev(timestep_embedding_forward(host(t), s));
      },
      [](const int32_t* ids, int64_t n, const Tensor& table) {
        return ++calls()["embedding_lookup_forward"], dev(embedding_lookup_forward(ids, n, host(table)));
      },
      [](const int32_t* ids, int64_t n, const Tensor& gy, Tensor* gtable) {
        ++calls()["embedding_lookup_backward"];
        Tensor h = host(*gtable);
        embedding_lookup_backward(ids, n, host(gy), &h);
        write_into(gtable, h);
      },
      [](const Tensor& p, const Tensor& t) { return ++calls()["mse_forward"], mse_loss_forward(host(p), host(t)); },
      [](const Tensor& p, const Tensor& t, float g) {
        return ++calls()["mse_backward"], dev(mse_loss_backward(host(p), host(t), g));
      },
  };
  return ops;
}

const TrainingDeviceOps& emulated_training_ops() {
  static const TrainingDeviceOps ops{
      [](const AdamStepScalars& k, const std::vector<AdamTensors>& ts) {
        ++calls()["adam_step"];
        for (const AdamTensors& t : ts) {
          Tensor hp = host(*t.param), hg = host(*t.grad), hm = host(*t.exp_avg), hv = host(*t.exp_avg_sq);
          adam_update(k, {{&hp, &hg, &hm, &hv}});
          write_into(t.param, hp), write_into(t.exp_avg, hm), write_into(t.exp_avg_sq, hv);
        }
      },
      [](const std::vector<EmaTensors>& ts, float decay) {
        ++calls()["ema_update"];
        for (const EmaTensors& t : ts) {
          Tensor hs = host(*t.shadow), hl = host(*t.live);
          ema_update_tensors({{&hs, &hl}}, decay);
          write_into(t.shadow, hs);
        }
      },
      [](const std::vector<const Tensor*>& ts) {
        std::vector<Tensor> hosts;
        for (const Tensor* t : ts) hosts.push_back(host(*t));
        std::vector<const Tensor*> ptrs;
        for (const Tensor& h : hosts) ptrs.push_back(&h);
        return ++calls()["sum_squares"], grad_sum_squares(ptrs);
      },
      [](const std::vector<Tensor*>& ts, float s) {
        ++calls()["scale"];
        for (Tensor* t : ts) {
          Tensor h = host(*t);
          scale_grads({&h}, s);
          write_into(t, h);
        }
      },
      [](const std::vector<Tensor*>& ts) {
        ++calls()["zero"];
        for (Tensor* t : ts) write_into(t, Tensor(t->shape));
      },
      [](const std::vector<SliceCopy>& copies, float scale) {
        ++calls()["copy_scaled"];
        for (const SliceCopy& c : copies) {
          Tensor dst = host(*c.dst);
          const Tensor src = host(*c.src);
          for (int64_t i = 0; i < c.n; ++i) dst.v[c.dst_offset + i] = scale * src.v[c.src_offset + i];
          write_into(c.dst, dst);
        }
      },
  };
  return ops;
}

// The resident step kernels on host memory are the CPU kernels themselves.
const RlDeviceKernels& emulated_rl_kernels() {
  static const RlDeviceKernels k{
      nullptr,
      nullptr,
      nullptr,
      [](const DdimStepArgs& a, float* prev, double* lp) {
        ++calls()["ddim_step_resident"];
        ddim_step_cpu(a, prev, lp);
      },
      [](const DdimStepArgs& a, const double* g, float* gm, float* gu) {
        ++calls()["ddim_step_backward_resident"];
        ddim_step_backward_cpu(a, g, gm, gu);
      },
      nullptr,
  };
  return k;
}

// Installs the emulation in the CUDA slot for one test and puts back what was there.
class ScopedEmulatedDevice {
 public:
  ScopedEmulatedDevice()
      : backend_(DeviceRegistry<DeviceBackend>::replace(kEmulated, &emulated_backend())),
        ops_(DeviceRegistry<DeviceOps>::replace(kEmulated, &emulated_ops())),
        training_(DeviceRegistry<TrainingDeviceOps>::replace(kEmulated, &emulated_training_ops())),
        rl_(DeviceRegistry<RlDeviceKernels>::replace(kEmulated, &emulated_rl_kernels())) {
    calls().clear();
  }
  ~ScopedEmulatedDevice() {
    DeviceRegistry<DeviceBackend>::replace(kEmulated, backend_);
    DeviceRegistry<DeviceOps>::replace(kEmulated, ops_);
    DeviceRegistry<TrainingDeviceOps>::replace(kEmulated, training_);
    DeviceRegistry<RlDeviceKernels>::replace(kEmulated, rl_);
  }

 private:
  static const EmulatedBackend& emulated_backend() {
    static const EmulatedBackend b;
    return b;
  }
  const DeviceBackend* backend_;
  const DeviceOps* ops_;
  const TrainingDeviceOps* training_;
  const RlDeviceKernels* rl_;
};

bool bitwise_equal(const Tensor& a, const Tensor& b) { return same_bits(host(a), host(b)); }

template <typename Fn>
bool throws_logic_error(Fn fn) {
  try {
    fn();
  } catch (const std::logic_error&) {
    return true;
  }
  return false;
}

UNetConfig tiny_unet_config() {
  return UNetConfig::from_json(Json::parse(R"({"in_channels":1,"out_channels":1,"sample_size":8,
    "block_out_channels":[8,16],"down_block_types":["CrossAttnDownBlock2D","DownBlock2D"],
    "up_block_types":["UpBlock2D","CrossAttnUpBlock2D"],"layers_per_block":1,"attention_head_dim":2,
    "cross_attention_dim":6,"norm_num_groups":4,"use_linear_projection":true})"));
}

}  // namespace

TEST(device_tensor_storage_round_trips) {
  ScopedEmulatedDevice device;
  const Tensor a = randn({3, 5});
  Tensor d = a.to(kEmulated);
  CHECK(d.on_device() && d.v.empty() && d.numel() == 15, "a device tensor keeps no CPU values");
  CHECK(bitwise_equal(d, a), "to(device) then to(cpu) changes values");
  Tensor copy = d;  // shares the storage until one side writes
  CHECK(copy.storage == d.storage, "a device copy was not shared before a write");
  copy.zero();
  CHECK(bitwise_equal(d, a) && bitwise_equal(copy, Tensor({3, 5})), "zeroing a copy changed the original");
  Tensor other = d;
  other.mutable_device_data()[0] = 42.f;  // host memory behind the emulated device
  CHECK(other.storage != d.storage && bitwise_equal(d, a) && host(other).v[0] == 42.f,
        "a write through a shared storage reached the other tensor (no copy on write)");
  Tensor alone = dev(a);
  const DeviceStorage* before = alone.storage.get();
  alone.mutable_device_data();
  CHECK(alone.storage.get() == before, "an unshared storage was cloned for a write");
  CHECK(bitwise_equal(d.reshaped({5, 3}), a.reshaped({5, 3})), "reshape on the device");
  CHECK(bitwise_equal(Tensor::zeros({4}, kEmulated), Tensor({4})), "zeros on the device");
  CHECK(throws_logic_error([&] { (void)d.data(); }), "CPU code read a device tensor's values");
  CHECK(throws_logic_error([&] { (void)a.device_data(); }), "device code read a CPU tensor as device memory");
  bool mixed_refused = false;
  try {
    (void)linear_forward(d, randn({2, 5}), nullptr);  // weight left on the CPU
  } catch (const std::exception&) {
    mixed_refused = true;
  }
  CHECK(mixed_refused, "an op ran with its input on the device and its weight on the CPU");
}

// Without a registered backend, a device is refused with a reason instead of crashing.
TEST(device_without_backend_is_refused_in_words) {
  const DeviceBackend* previous = DeviceRegistry<DeviceBackend>::replace(Device::kCuda, nullptr);
  const DeviceStatus s = device_status(Device::kCuda);
  bool refused = false;
  try {
    (void)Tensor::zeros({2}, Device::kCuda);
  } catch (const std::runtime_error& e) {
    refused = std::string(e.what()).find("CUDA is not usable") != std::string::npos;
  }
  DeviceRegistry<DeviceBackend>::replace(Device::kCuda, previous);
  CHECK(!s.usable && !s.reason.empty(), "a device without a backend reported usable");
  CHECK(refused, "allocating on a device without a backend did not say why");
}

// The whole UNet (LoRA adapters on) through the device table: outputs and every gradient bitwise
// equal to the CPU run, and every op of a training pass dispatched.
TEST(unet_on_emulated_device_matches_cpu_bitwise) {
  ScopedEmulatedDevice device;
  UNet2DCondition cpu(tiny_unet_config(), 11), gpu(tiny_unet_config(), 11);
  for (UNet2DCondition* net : {&cpu, &gpu}) {
    net->enable_lora(2, 1.5f);
    for (const auto& p : net->params().all())  // nonzero LoRA B so its branch contributes
      if (p->name.find("lora_B") != std::string::npos) p->value = randn(p->value.shape, 0.1f);
  }
  for (const auto& p : cpu.params().all()) gpu.params().find(p->name)->value = p->value;
  gpu.params().to(kEmulated);

  const Tensor x = randn({2, 1, 8, 8}), t({2}, std::vector<float>{10.f, 500.f}), ctx = randn({2, 3, 6});
  Tensor mask({2, 3}, 1.f);
  mask.v[5] = 0.f;
  const Tensor gy = randn({2, 1, 8, 8});
  cpu.params().zero_grad();
  gpu.params().zero_grad();
  const Tensor y_cpu = cpu.forward(x, t, ctx, &mask);
  const Tensor mask_on_device = dev(mask);
  const Tensor y_gpu = gpu.forward(dev(x), dev(t), dev(ctx), &mask_on_device);
  CHECK(y_gpu.on_device(), "the UNet's output left the device");
  CHECK(bitwise_equal(y_gpu, y_cpu), "UNet forward on the device differs from the CPU");
  const UNetGrads g_cpu = cpu.backward(gy), g_gpu = gpu.backward(dev(gy));
  CHECK(bitwise_equal(g_gpu.sample, g_cpu.sample), "d/d sample differs");
  CHECK(bitwise_equal(g_gpu.encoder_hidden_states, g_cpu.encoder_hidden_states), "d/d context differs");
  int trainable = 0;
  for (const auto& p : cpu.params().all()) {
    const Param* q = gpu.params().find(p->name);
    if (!p->trainable) {
      CHECK(q->grad.empty(), "frozen parameter " + p->name + " got a gradient on the device");
      continue;
    }
    ++trainable;
    CHECK(q->grad.on_device(), p->name + "'s gradient is not on the device");
    CHECK(bitwise_equal(q->grad, p->grad), "gradient of " + p->name + " differs");
  }
  std::printf("    %d trainable (LoRA) gradients, output and input gradients bitwise equal; %zu ops dispatched\n",
              trainable, calls().size());
  for (const char* op : {"linear_forward",      "linear_backward",
                         "conv2d_forward",      "conv2d_backward",
                         "silu_forward",        "silu_backward",
                         "geglu_forward",       "geglu_backward",
                         "group_norm_forward",  "group_norm_silu_forward",
                         "group_norm_backward", "layer_norm_forward",
                         "layer_norm_backward", "attention_forward",
                         "attention_backward",  "upsample_forward",
                         "upsample_backward",   "concat_forward",
                         "concat_backward",     "add_scaled_inplace",
                         "add_plane_bias",      "plane_sums",
                         "nchw_to_tokens",      "tokens_to_nchw",
                         "timestep_embedding",  "add"})
    CHECK(calls().count(op), std::string("the UNet never dispatched ") + op);
}

// AdamW with gradient clipping and an EMA shadow, three steps, parameters moved to the device after
// the optimizer was built (its moments follow them): bitwise the CPU's values.
TEST(training_updates_on_emulated_device_match_cpu_bitwise) {
  ScopedEmulatedDevice device;
  ParamStore cpu, gpu, cpu_shadow, gpu_shadow;
  for (ParamStore* s : {&cpu, &gpu, &cpu_shadow, &gpu_shadow}) {
    s->set_seed(5);
    s->add("a", {3, 4}, Init::kUniformFanIn, 4);
    s->add("b", {7}, Init::kUniformFanIn, 7);
  }
  std::vector<Param*> pc, pg;
  for (const auto& p : cpu.all()) pc.push_back(p.get());
  for (const auto& p : gpu.all()) pg.push_back(p.get());
  AdamConfig cfg;
  cfg.lr = 1e-2f;
  AdamOptimizer opt_cpu(pc, cfg), opt_gpu(pg, cfg);
  gpu.to(kEmulated);
  gpu_shadow.to(kEmulated);
  for (int step = 0; step < 3; ++step) {
    for (size_t j = 0; j < pc.size(); ++j) {
      pc[j]->grad = randn(pc[j]->value.shape, 3.f);
      pg[j]->grad = dev(pc[j]->grad);
    }
    const double n_cpu = clip_grad_norm(pc, 1.0), n_gpu = clip_grad_norm(pg, 1.0);
    CHECK(n_cpu == n_gpu, "gradient norms differ");
    opt_cpu.step();
    opt_gpu.step();
    ema_update(cpu_shadow, cpu, 0.9f);
    ema_update(gpu_shadow, gpu, 0.9f);
  }
  for (size_t j = 0; j < pc.size(); ++j) {
    CHECK(pg[j]->value.on_device() && bitwise_equal(pg[j]->value, pc[j]->value), "AdamW result differs");
    CHECK(bitwise_equal(pg[j]->grad, pc[j]->grad), "clipped gradient differs");
  }
  for (const auto& p : cpu_shadow.all())
    CHECK(bitwise_equal(gpu_shadow.find(p->name)->value, p->value), "EMA shadow differs");
  for (const auto& [name, t] : opt_gpu.state_tensors()) CHECK(t->on_device(), name + " stayed on the CPU");
  // One device call per step for all of the parameters (on a GPU, one launch), not one per tensor.
  for (const char* op : {"adam_step", "ema_update", "sum_squares", "scale"})
    CHECK(calls()[op] == 3, std::string(op) + " dispatched " + std::to_string(calls()[op]) + " times in 3 steps");

  // One update never mixes devices.
  Tensor p = randn({4}), g = dev(randn({4})), m = dev(Tensor({4})), v = dev(Tensor({4}));
  const std::string mixed = thrown_message<std::invalid_argument>([&] {
    adam_update(adam_step_scalars(cfg, 1), {{&p, &g, &m, &v}});
  });
  CHECK(mixed.find("adam: tensors on CPU and") != std::string::npos, "mixed devices: '" + mixed + "'");
}

// Device storage lifetimes over a training loop: the number of live device buffers is the same
// after every step (nothing a pass allocates outlives it), and zero once the model, its optimizer
// and the inputs are gone.
TEST(device_storage_is_released_across_training_steps) {
  ScopedEmulatedDevice device;
  const int64_t at_start = live_storages();
  {
    UNet2DCondition net(tiny_unet_config(), 1);
    net.params().to(kEmulated);
    std::vector<Param*> ps;
    for (const auto& p : net.params().all()) ps.push_back(p.get());
    AdamOptimizer opt(ps, AdamConfig{});
    const Tensor x = dev(randn({2, 1, 8, 8})), t = dev(Tensor({2}, 100.f)), ctx = dev(randn({2, 3, 6}));
    std::vector<int64_t> live;
    for (int i = 0; i < 12; ++i) {
      net.params().zero_grad();
      net.backward(net.forward(x, t, ctx));
      clip_grad_norm(ps, 1.0);
      opt.step();
      live.push_back(live_storages());
    }
    std::printf("    live device buffers after steps 2..12: %lld (constant: %s)\n", (long long)live[1],
                std::all_of(live.begin() + 1, live.end(), [&](int64_t n) { return n == live[1]; }) ? "yes" : "no");
    for (size_t i = 2; i < live.size(); ++i) CHECK(live[i] == live[1], "device buffers accumulate across steps");
  }
  CHECK(live_storages() == at_start, "device buffers outlive the model, optimizer and inputs");
}

// The flat gradient buffer on a device: packed and unpacked with one device copy call each (all the
// tensors at once), values as on the CPU; and zero_grad zeroes every gradient in one call.
TEST(flat_gradients_on_emulated_device) {
  ScopedEmulatedDevice device;
  ParamStore ps;
  ps.add("a", {3, 4}, Init::kZeros, 0);
  ps.add("b", {5}, Init::kZeros, 0);
  std::vector<Param*> params;
  for (const auto& p : ps.all()) params.push_back(p.get());
  std::vector<Tensor> host_grads;
  for (Param* p : params) host_grads.push_back(randn(p->value.shape));
  ps.to(kEmulated);
  for (size_t i = 0; i < params.size(); ++i) params[i]->grad = dev(host_grads[i]);
  FlatGradients flat(params);
  CHECK(flat.device() == kEmulated, "the buffer is not on the gradients' device");
  flat.pack();
  const Tensor buffer = host(flat.buffer());
  CHECK(std::equal(host_grads[0].v.begin(), host_grads[0].v.end(), buffer.v.begin()) &&
            std::equal(host_grads[1].v.begin(), host_grads[1].v.end(), buffer.v.begin() + 12),
        "device pack does not lay the gradients end to end");
  flat.unpack(2.f);
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor want = host_grads[i];
    for (float& x : want.v) x *= 2.f;
    CHECK(params[i]->grad.on_device() && bitwise_equal(params[i]->grad, want), "device unpack differs");
  }
  CHECK(calls()["copy_scaled"] == 2,
        "pack and unpack took " + std::to_string(calls()["copy_scaled"]) + " device copy calls, not one each");
  ps.zero_grad();
  CHECK(calls()["zero"] == 1, "zero_grad took " + std::to_string(calls()["zero"]) + " device calls, not one");
  for (Param* p : params)
    CHECK(p->grad.on_device() && bitwise_equal(p->grad, Tensor(p->value.shape)), p->name + ": zero_grad left values");
}

// The RL timestep (rl/policy_step.h) with the UNet on the device and the stored latents already
// there (the trajectory stays on the device): statistics, log-probs, d/d(context) and every
// parameter gradient bitwise the CPU's, the step kernels run resident on the device. Asked for the
// ACE tokens only, d/d(context) is the last K tokens of the conditional rows, cut on the device.
TEST(policy_step_on_emulated_device_matches_cpu_bitwise) {
  ScopedEmulatedDevice device;
  UNet2DCondition cpu(tiny_unet_config(), 5), gpu(tiny_unet_config(), 5);
  gpu.params().to(kEmulated);
  const int64_t B = 2, L = 3;
  PolicyStepArgs a;
  a.sample = randn({B, 1, 8, 8});
  a.prev_sample = randn({B, 1, 8, 8});
  a.anchor_mean = randn({B, 1, 8, 8});
  a.timesteps = {500.f, 300.f};
  a.context = randn({2 * B, L, 6});
  a.mask = Tensor({2 * B, L}, 1.f);
  a.mask.v[2] = 0.f;  // a padded token of an unconditional row
  a.step.alpha_bar_t = {0.5, 0.7};
  a.step.alpha_bar_prev = {0.6, 0.8};
  a.step.eta = 1.0;
  a.step.guidance_scale = 3.f;
  a.old_log_prob = {-1.2, -0.9};
  a.advantages = {1.0, -0.5};
  a.clip_range = 0.2;
  a.loss_scale = 0.5;
  a.kl_weight = 0.1;
  PolicyStepArgs on_device = a;
  on_device.sample = dev(a.sample);
  on_device.prev_sample = dev(a.prev_sample);
  on_device.anchor_mean = dev(a.anchor_mean);
  cpu.params().zero_grad();
  gpu.params().zero_grad();
  const PolicyStepResult rc = policy_step(cpu, a), rg = policy_step(gpu, on_device);
  CHECK(rc.ppo.loss == rg.ppo.loss && rc.ppo.approx_kl == rg.ppo.approx_kl && rc.kl_anchor == rg.kl_anchor,
        "policy step statistics differ");
  CHECK(rc.log_prob == rg.log_prob, "policy step log-probs differ");
  CHECK(!rg.grad_context.on_device() && bitwise_equal(rg.grad_context, rc.grad_context), "d/d context differs");
  for (const auto& p : cpu.params().all())
    CHECK(bitwise_equal(gpu.params().find(p->name)->grad, p->grad), "gradient of " + p->name + " differs");
  CHECK(calls().count("ddim_step_resident") && calls().count("ddim_step_backward_resident"),
        "the step did not run on the device");

  const int64_t K = 2, D = 6;
  on_device.context_grad_tokens = K;
  const PolicyStepResult tail = policy_step(gpu, on_device);
  CHECK(!tail.grad_context.on_device() && tail.grad_context.shape == (Shape{B, K, D}),
        "the ACE slice of d/d(context) is " + shape_str(tail.grad_context.shape));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < K * D; ++i)
      CHECK(tail.grad_context.v[b * K * D + i] == rc.grad_context.v[((B + b) * L + L - K) * D + i],
            "the ACE slice is not the conditional rows' last tokens");
  std::printf("    loss %.6f, KL %.3e, log-probs %.4f %.4f: device and CPU bitwise equal; ACE slice [%lld,%lld,%lld]\n",
              rc.ppo.loss, rc.kl_anchor, rc.log_prob[0], rc.log_prob[1], (long long)B, (long long)K, (long long)D);
}

// The pretraining micro-batch (model/denoise_step.h) with the UNet on the device: the loss,
// d/d(context) and every parameter gradient bitwise the CPU's, the MSE on the device.
TEST(denoise_step_on_emulated_device_matches_cpu_bitwise) {
  ScopedEmulatedDevice device;
  UNet2DCondition cpu(tiny_unet_config(), 8), gpu(tiny_unet_config(), 8);
  gpu.params().to(kEmulated);
  DenoiseStepArgs a;
  a.sample = randn({2, 1, 8, 8});
  a.target = randn({2, 1, 8, 8});
  a.timesteps = Tensor({2}, 250.f);
  a.context = randn({2, 3, 6});
  a.mask = Tensor({2, 3}, 1.f);
  a.mask.v[5] = 0.f;
  a.loss_scale = 0.25f;
  cpu.params().zero_grad();
  gpu.params().zero_grad();
  const DenoiseStepResult rc = denoise_step(cpu, a), rg = denoise_step(gpu, a);
  CHECK(rc.loss == rg.loss, "denoise step loss differs");
  CHECK(!rg.grad_context.on_device() && bitwise_equal(rg.grad_context, rc.grad_context), "d/d context differs");
  for (const auto& p : cpu.params().all())
    CHECK(bitwise_equal(gpu.params().find(p->name)->grad, p->grad), "gradient of " + p->name + " differs");
  CHECK(calls().count("mse_forward") && calls().count("mse_backward"), "the MSE did not run on the device");
  std::printf("    loss %.6f: device and CPU bitwise equal\n", rc.loss);
}

// Rows gathered from several tensors (the RL update's x_t of each sample at its own step): on the
// CPU row k is rows[k] of sources[k]; on the device the same values; mixed devices and rows out of
// range are refused in words.
TEST(gather_rows_on_cpu_and_emulated_device) {
  ScopedEmulatedDevice device;
  const Tensor s0 = randn({3, 2, 2}), s1 = randn({3, 2, 2});
  const Tensor host = gather_rows({&s1, &s0, &s1}, {2, 0, 0});
  CHECK(host.shape == (Shape{3, 2, 2}), "gathered shape " + shape_str(host.shape));
  for (int i = 0; i < 4; ++i)
    CHECK(host.v[i] == s1.v[8 + i] && host.v[4 + i] == s0.v[i] && host.v[8 + i] == s1.v[i], "gathered rows differ");
  const Tensor d0 = dev(s0), d1 = dev(s1);
  const Tensor on_device = gather_rows({&d1, &d0, &d1}, {2, 0, 0});
  CHECK(on_device.on_device() && bitwise_equal(on_device, host), "device gather differs from the CPU's");
  const std::string mixed = thrown_message<std::invalid_argument>([&] { gather_rows({&s0, &d1}, {0, 0}); });
  const std::string outside = thrown_message<std::invalid_argument>([&] { gather_rows({&s0}, {3}); });
  CHECK(mixed.find("span 1 is on") != std::string::npos, "mixed devices: '" + mixed + "'");
  CHECK(outside.find("outside [0, 3)") != std::string::npos, "row out of range: '" + outside + "'");
}

// The VAE (decode and encode, mid-block attention on) through the device table: bitwise the CPU's.
TEST(vae_on_emulated_device_matches_cpu_bitwise) {
  ScopedEmulatedDevice device;
  const VaeConfig cfg = VaeConfig::from_json(Json::parse(R"({"in_channels":3,"out_channels":3,"latent_channels":4,
    "block_out_channels":[16,32],"down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D"],
    "up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D"],"layers_per_block":1,"norm_num_groups":8})"));
  AutoencoderKL cpu(cfg, 4), gpu(cfg, 4);
  gpu.params().to(kEmulated);
  const Tensor z = randn({2, 4, 6, 6}), images = randn({1, 3, 16, 16});
  CHECK(bitwise_equal(gpu.decode(dev(z)), cpu.decode(z)), "VAE decode on the device differs");
  Tensor mean_cpu, logvar_cpu, mean_gpu, logvar_gpu;
  cpu.encode(images, &mean_cpu, &logvar_cpu);
  gpu.encode(dev(images), &mean_gpu, &logvar_gpu);
  CHECK(bitwise_equal(mean_gpu, mean_cpu) && bitwise_equal(logvar_gpu, logvar_cpu), "VAE encode on the device differs");
  CHECK(calls().count("attention_forward"), "the mid-block attention did not run on the device");
}

// The text encoder (token and position lookups, transformer layers) through the device table:
// output and every parameter gradient bitwise the CPU's.
TEST(text_encoder_on_emulated_device_matches_cpu_bitwise) {
  ScopedEmulatedDevice device;
  const TextEncoderConfig cfg =
      TextEncoderConfig::from_json(Json::parse(R"({"vocab_size":50,"width":16,"layers":2,"heads":2,"max_length":8})"));
  TextEncoder cpu(cfg, 3), gpu(cfg, 3);
  gpu.params().to(kEmulated);
  const std::vector<int32_t> ids = {1, 5, 9, 2, 0, 0, 7, 3, 3, 49, 12, 0};
  Tensor mask({2, 6}, 1.f);
  mask.v[4] = mask.v[5] = mask.v[11] = 0.f;
  const Tensor y = cpu.forward(ids.data(), 2, 6, mask), y_gpu = gpu.forward(ids.data(), 2, 6, dev(mask));
  CHECK(y_gpu.on_device() && bitwise_equal(y_gpu, y), "text encoder output on the device differs");
  const Tensor gy = randn(y.shape);
  cpu.params().zero_grad();
  gpu.params().zero_grad();
  cpu.backward(gy);
  gpu.backward(dev(gy));
  for (const auto& p : cpu.params().all())
    CHECK(bitwise_equal(gpu.params().find(p->name)->grad, p->grad), "text encoder gradient of " + p->name + " differs");
  CHECK(calls().count("embedding_lookup_forward") && calls().count("embedding_lookup_backward"),
        "the embedding lookups did not run on the device");
}

// The sampling step (rl/sample_step.h) with the UNet on the device: x_prev (left on the device), its
// log-probs and the step's mean bitwise the CPU's.
TEST(sample_step_on_emulated_device_matches_cpu_bitwise) {
  ScopedEmulatedDevice device;
  UNet2DCondition cpu(tiny_unet_config(), 6), gpu(tiny_unet_config(), 6);
  gpu.params().to(kEmulated);
  SampleStepArgs a;
  a.sample = randn({2, 1, 8, 8});
  a.timesteps = {700.f, 700.f};
  a.context = randn({4, 3, 6});
  a.mask = Tensor({4, 3}, 1.f);
  a.step.alpha_bar_t = {0.3, 0.3};
  a.step.alpha_bar_prev = {0.45, 0.45};
  a.step.eta = 0.8;
  a.step.guidance_scale = 2.5f;
  a.step.seed = 17;
  a.step.stream_offset = 4;
  a.keep_mean = true;
  const SampleStepResult rc = sample_step(cpu, a);
  SampleStepArgs ag = a;
  ag.sample = dev(a.sample);
  const SampleStepResult rg = sample_step(gpu, ag);
  CHECK(rg.prev_sample.on_device() && bitwise_equal(rg.prev_sample, rc.prev_sample), "x_prev differs");
  CHECK(rg.log_prob == rc.log_prob, "log-probs differ");
  CHECK(rg.mean.on_device() && bitwise_equal(rg.mean, rc.mean), "the step's mean differs");
  CHECK(!bitwise_equal(rc.mean, rc.prev_sample), "the mean is the noisy sample");
}

}  // namespace cxrl::test
