// cxrl_unet_dump: one UNet forward and backward on a device, written out for a comparison with
// PyTorch on the same device (scripts/unet_torch_parity.py, which runs the independent reference of
// test/reference/unet_reference.py on the same weights and inputs). Needs no Node.js, so the GPU
// machine runs it (scripts/device-check.sh); CI runs it on the emulated GPU.
//
// usage: cxrl_unet_dump CONFIG.json OUT_DIR [--device cpu|cuda] [--batch B] [--size S] [--context L]
//                       [--seed N]
// writes OUT_DIR/weights.safetensors (diffusers names), input.safetensors (sample, timestep,
// encoder_hidden_states, encoder_attention_mask, grad_output) and engine.safetensors (output,
// grad.sample, grad.encoder_hidden_states, grad.<parameter>).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/device.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/unet.h"
#include "model/unet_config.h"

using namespace cxrl;

namespace {

struct Options {
  std::string config, out_dir;
  Device device = Device::kCpu;
  int64_t batch = 2, size = 0, context = 7;  // size 0: the config's sample_size
  uint64_t seed = 1;
};

int64_t positive(const char* flag, const char* value) {
  char* end = nullptr;
  const long long v = std::strtoll(value, &end, 10);
  if (!*value || *end || v <= 0) throw std::invalid_argument(std::string(flag) + " must be a positive integer");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      positional.push_back(a);
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
    const char* v = argv[++i];
    if (a == "--device")
      o.device = parse_device(v);
    else if (a == "--batch")
      o.batch = positive("--batch", v);
    else if (a == "--size")
      o.size = positive("--size", v);
    else if (a == "--context")
      o.context = positive("--context", v);
    else if (a == "--seed")
      o.seed = (uint64_t)positive("--seed", v);
    else
      throw std::invalid_argument("unknown option " + a);
  }
  if (positional.size() != 2) throw std::invalid_argument("expected CONFIG.json and OUT_DIR");
  o.config = positional[0];
  o.out_dir = positional[1];
  return o;
}

Tensor normal(const Shape& shape, std::mt19937_64& gen) {
  Tensor t(shape);
  std::normal_distribution<float> n(0.f, 1.f);
  for (float& v : t.v) v = n(gen);
  return t;
}

void write(const std::string& path, const std::map<std::string, Tensor>& tensors) {
  std::map<std::string, const Tensor*> refs;
  for (const auto& [name, t] : tensors) refs[name] = &t;
  write_safetensors(path, refs, {});
}

void run(const Options& o) {
  const UNetConfig cfg = UNetConfig::from_json(Json::parse_file(o.config));
  const int64_t size = o.size > 0 ? o.size : cfg.sample_size;
  UNet2DCondition unet(cfg, o.seed);
  unet.params().to(o.device);  // first: without a usable device, fail before writing anything
  std::mt19937_64 gen(o.seed);
  const int64_t B = o.batch, L = o.context;
  std::map<std::string, Tensor> input;
  input["sample"] = normal({B, cfg.in_channels, size, size}, gen);
  input["encoder_hidden_states"] = normal({B, L, cfg.cross_attention_dim}, gen);
  input["timestep"] = Tensor({B});
  for (int64_t b = 0; b < B; ++b) input["timestep"].v[b] = (float)(37 + 911 * b % 1000);
  Tensor mask({B, L}, 1.f);  // the last batch entry sees only its first two tokens
  for (int64_t l = 2; l < L; ++l) mask.v[(B - 1) * L + l] = 0.f;
  input["encoder_attention_mask"] = mask;
  input["grad_output"] = normal({B, cfg.out_channels, size, size}, gen);

  std::map<std::string, Tensor> weights;
  for (const auto& p : unet.params().all()) weights[p->name] = p->value.to(Device::kCpu);
  write(o.out_dir + "/weights.safetensors", weights);
  weights.clear();
  write(o.out_dir + "/input.safetensors", input);

  unet.params().zero_grad();
  auto on_device = [&](const char* name) { return input.at(name).to(o.device); };
  const Tensor device_mask = mask.to(o.device);
  const Tensor y =
      unet.forward(on_device("sample"), on_device("timestep"), on_device("encoder_hidden_states"), &device_mask);
  const UNetGrads g = unet.backward(on_device("grad_output"));
  std::map<std::string, Tensor> result;
  result["output"] = y.to(Device::kCpu);
  result["grad.sample"] = g.sample.to(Device::kCpu);
  result["grad.encoder_hidden_states"] = g.encoder_hidden_states.to(Device::kCpu);
  for (const auto& p : unet.params().all()) result["grad." + p->name] = p->grad.to(Device::kCpu);
  write(o.out_dir + "/engine.safetensors", result);
  std::printf("cxrl_unet_dump: %s, %lld parameters, batch %lld at %lldx%lld, %lld tokens, on %s -> %s\n",
              o.config.c_str(), (long long)unet.params().count(), (long long)B, (long long)size, (long long)size,
              (long long)L, device_name(o.device), o.out_dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "cxrl_unet_dump: %s\nusage: cxrl_unet_dump CONFIG.json OUT_DIR [--device cpu|cuda] [--batch B] "
                 "[--size S] [--context L] [--seed N]\n",
                 e.what());
    return 2;
  }
  try {
    run(options);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cxrl_unet_dump: %s\n", e.what());
    return 1;
  }
}
