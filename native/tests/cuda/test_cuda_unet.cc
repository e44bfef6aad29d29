// The whole UNet on the GPU through the device tensors and the op tables (ops/device_ops.h) against
// the same UNet on the CPU: output, input gradients and every parameter gradient (fp32 bound 1e-3
// relative), then one clipped AdamW step on the device against the CPU's; the training reductions;
// gradient averaging through a 1-rank NCCL communicator; the RL timestep (rl/policy_step.h), the
// sampling step and the pretraining micro-batch (model/denoise_step.h); the VAE and text encoder.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/nccl_loader.h"
#include "distributed/collective.h"
#include "io/json.h"
#include "model/denoise_step.h"
#include "model/ema.h"
#include "model/optimizer.h"
#include "model/text_encoder.h"
#include "model/unet.h"
#include "model/unet_config.h"
#include "model/vae.h"
#include "model/vae_config.h"
#include "rl/policy_step.h"
#include "rl/sample_step.h"
#include "tests/cuda/cuda_compare.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;

namespace {

struct UNetCase {
  const char* name;
  const char* config;  // JSON, or "@PATH" (relative to the repository root) to read it from a file
  int64_t batch, size, context_length;
  int lora_rank;  // 0: full fine-tuning
};

const UNetCase kCases[] = {
    {"tiny, conv projection", "@test/reference/tiny-unet-config.json", 2, 8, 3, 0},
    {"tiny, linear projection, LoRA", R"({"in_channels":1,"out_channels":1,"sample_size":8,
      "block_out_channels":[8,16],"down_block_types":["CrossAttnDownBlock2D","DownBlock2D"],
      "up_block_types":["UpBlock2D","CrossAttnUpBlock2D"],"layers_per_block":1,"attention_head_dim":2,
      "cross_attention_dim":6,"norm_num_groups":4,"use_linear_projection":true})",
     2, 8, 3, 2},
    {"small latent (4 channels, 2 levels of 2 resnets, 77-token context)",
     "@test/reference/small-latent-unet-config.json", 2, 16, 77, 0},
    {"SD-v1.x-sized (860M parameters) at 16x16 latents", "@test/reference/sd-v1-unet-config.json", 1, 16, 77, 0},
};

UNetConfig case_config(const UNetCase& c) {
  const std::string text = c.config;
  if (text.empty() || text[0] != '@') return UNetConfig::from_json(Json::parse(text));
  try {
    return UNetConfig::from_json(Json::parse_file(text.substr(1)));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (run the tests from the repository root)");
  }
}

// The UNet of the whole-step tests (RL timestep, sampling step, pretraining micro-batch): the small
// latent one, on a device and on the emulated GPU alike.
const UNetCase& step_case() { return kCases[2]; }

std::vector<Param*> trainable(ParamStore& s) {
  std::vector<Param*> out;
  for (const auto& p : s.all())
    if (p->trainable) out.push_back(p.get());
  return out;
}

}  // namespace

TEST(cuda_unet_matches_cpu) {
  require_device();
  for (const UNetCase& c : kCases) {
    if (emulated_gpu() && &c >= &kCases[3]) {
      std::printf("    unet %s: not run on the emulated GPU (too slow as CPU threads); the device run covers it\n",
                  c.name);
      continue;
    }
    const UNetConfig cfg = case_config(c);
    UNet2DCondition cpu(cfg, 3), gpu(cfg, 3);
    if (c.lora_rank) {
      cpu.enable_lora(c.lora_rank, 1.f);
      gpu.enable_lora(c.lora_rank, 1.f);
    }
    for (const auto& p : cpu.params().all()) {
      if (p->name.find("lora_B") != std::string::npos) p->value = randn(p->value.shape, 0.1f);
      gpu.params().find(p->name)->value = p->value;
    }
    gpu.params().to(Device::kCuda);
    const int64_t C = cfg.in_channels;
    const Tensor x = randn({c.batch, C, c.size, c.size}),
                 ctx = randn({c.batch, c.context_length, (int64_t)cfg.cross_attention_dim});
    Tensor t({c.batch}), mask({c.batch, c.context_length}, 1.f);
    for (int64_t b = 0; b < c.batch; ++b) t.v[b] = (float)rand_int(0, 999);
    mask.v.back() = 0.f;  // one padded key
    const Tensor gy = randn({c.batch, (int64_t)cfg.out_channels, c.size, c.size});
    const Tensor mask_gpu = mask.to(Device::kCuda);
    cpu.params().zero_grad();
    gpu.params().zero_grad();
    const Tensor y = cpu.forward(x, t, ctx, &mask);
    const Tensor y_gpu = gpu.forward(x.to(Device::kCuda), t.to(Device::kCuda), ctx.to(Device::kCuda), &mask_gpu);
    const std::string l = std::string("unet ") + c.name;
    expect_close(l + " output", y_gpu.to(Device::kCpu), y, kFp32Tol);
    const UNetGrads g = cpu.backward(gy), g_gpu = gpu.backward(gy.to(Device::kCuda));
    expect_close(l + " d sample", g_gpu.sample.to(Device::kCpu), g.sample, kFp32Tol);
    expect_close(l + " d context", g_gpu.encoder_hidden_states.to(Device::kCpu), g.encoder_hidden_states, kFp32Tol);
    expect_params_close(l + " parameter gradients", gpu.params(), cpu.params(), ParamPart::kGrad, kFp32Tol,
                        ParamScale::kFloored);

    // One clipped AdamW step on each side, from the same gradients: Adam's first step moves each
    // weight by about lr sign(g), so a gradient at float-noise level whose sign differs between the
    // two sides would otherwise move by 2 lr and measure the noise, not the step.
    for (const auto& p : cpu.params().all())
      if (p->trainable) gpu.params().find(p->name)->grad = p->grad.to(Device::kCuda);
    AdamConfig ac;
    ac.lr = 1e-3f;
    AdamOptimizer opt(trainable(cpu.params()), ac), opt_gpu(trainable(gpu.params()), ac);
    const double norm = clip_grad_norm(trainable(cpu.params()), 1.0);
    const double norm_gpu = clip_grad_norm(trainable(gpu.params()), 1.0);
    std::printf("    %s: gradient norm %.6g (cpu) %.6g (gpu)\n", l.c_str(), norm, norm_gpu);
    CHECK(std::abs(norm_gpu - norm) <= 1e-3 * norm, l + ": gradient norms differ");
    opt.step();
    opt_gpu.step();
    expect_params_close(l + " parameters after AdamW", gpu.params(), cpu.params(), ParamPart::kValue, kFp32Tol);
  }
}

TEST(cuda_training_reductions_match_cpu) {
  require_device();
  // Three tensors, one of them over three chunks of the multi-tensor table.
  const Tensor g = randn({rand_int(1, 300000) + 600000}, 2.f), g2 = randn({rand_int(1, 5000)}), g3 = randn({1});
  Tensor d = g.to(Device::kCuda), d2 = g2.to(Device::kCuda), d3 = g3.to(Device::kCuda), s = g, s2 = g2, s3 = g3;
  const double sq = grad_sum_squares({&g, &g2, &g3}), sq_gpu = grad_sum_squares({&d, &d2, &d3});
  std::printf("    sum of squares of %lld values in three tensors: cpu %.17g gpu %.17g\n",
              (long long)(g.numel() + g2.numel() + g3.numel()), sq, sq_gpu);
  CHECK(std::abs(sq_gpu - sq) <= 1e-12 * sq, "sum of squares differs");
  scale_grads({&s, &s2, &s3}, 0.37f);
  scale_grads({&d, &d2, &d3}, 0.37f);
  expect_close("scale", d.to(Device::kCpu), s, 1e-7);
  expect_close("scale (second tensor)", d2.to(Device::kCpu), s2, 1e-7);
  expect_close("scale (third tensor)", d3.to(Device::kCpu), s3, 1e-7);
  Tensor shadow = randn(g.shape), shadow_gpu = shadow.to(Device::kCuda), shadow2 = randn(g2.shape),
         shadow2_gpu = shadow2.to(Device::kCuda);
  const Tensor g_gpu = g.to(Device::kCuda), g2_gpu = g2.to(Device::kCuda);
  ema_update_tensors({{&shadow, &g}, {&shadow2, &g2}}, 0.99f);
  ema_update_tensors({{&shadow_gpu, &g_gpu}, {&shadow2_gpu, &g2_gpu}}, 0.99f);
  expect_close("ema", shadow_gpu.to(Device::kCpu), shadow, 1e-6);
  expect_close("ema (second tensor)", shadow2_gpu.to(Device::kCpu), shadow2, 1e-6);
}

// A 1-rank NCCL communicator (the issue's "must work where NCCL exists"): the all-reduce of one
// rank leaves the values unchanged, and averaging the UNet's flat gradients through it too.
TEST(cuda_nccl_one_rank_all_reduce) {
  require_device();
  std::string why;
  if (!nccl_api(&why)) {
    std::printf("    NCCL not found: %s\n", why.c_str());
    CHECK(!std::getenv("CXRL_REQUIRE_NCCL"), "CXRL_REQUIRE_NCCL is set but NCCL did not load");
    return;
  }
  std::printf("    NCCL %d from %s\n", nccl_api()->version, nccl_api()->library.c_str());
  DistEnv one;
  std::unique_ptr<Collective> nccl = open_collective(one, Device::kCuda, /*use_device_library=*/true);
  CHECK(std::string(nccl->name()) == "nccl", "the device library was not used");
  const Tensor x = randn({rand_int(1, 100000)});
  Tensor d = x.to(Device::kCuda);
  nccl->all_reduce_sum(&d);
  const Tensor reduced = d.to(Device::kCpu);
  const double moved = max_rel_error(reduced.data(), x.data(), x.numel());
  std::printf("    nccl all-reduce over 1 rank: max rel change %.1e\n", moved);
  CHECK(moved == 0, "the all-reduce over one rank changed the values");

  UNet2DCondition net(case_config(kCases[0]), 3);
  net.params().to(Device::kCuda);
  std::vector<Param*> params = trainable(net.params());
  for (Param* p : params) p->grad = randn(p->value.shape).to(Device::kCuda);
  std::vector<Tensor> before;
  for (Param* p : params) before.push_back(p->grad.to(Device::kCpu));
  FlatGradients flat(params);
  average_gradients(flat, *nccl);
  double worst = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor after = params[i]->grad.to(Device::kCpu);
    worst = std::max(worst, max_rel_error(after.data(), before[i].data(), after.numel()));
  }
  std::printf("    averaged %lld gradient values over 1 NCCL rank: max rel change %.1e\n", (long long)flat.numel(),
              worst);
  CHECK(worst == 0, "averaging over one rank changed the gradients");
}

// The RL timestep (rl/policy_step.h) with the UNet on the GPU against the CPU: statistics,
// log-probs, d/d(context) and every parameter gradient, with the KL term and guidance.
TEST(cuda_policy_step_matches_cpu) {
  require_device();
  const UNetCase& c = step_case();
  const UNetConfig cfg = case_config(c);
  UNet2DCondition cpu(cfg, 9), gpu(cfg, 9);
  gpu.params().to(Device::kCuda);
  const int64_t B = c.batch, C = cfg.in_channels;
  PolicyStepArgs a;
  a.sample = randn({B, C, c.size, c.size});
  a.prev_sample = randn(a.sample.shape);
  a.anchor_mean = randn(a.sample.shape);
  for (int64_t b = 0; b < B; ++b) {
    a.timesteps.push_back((float)rand_int(1, 999));
    a.step.alpha_bar_t.push_back(0.3 + 0.1 * b);
    a.step.alpha_bar_prev.push_back(0.35 + 0.1 * b);
    a.old_log_prob.push_back(-1.0 - 0.1 * b);
    a.advantages.push_back(b % 2 ? -0.7 : 1.1);
  }
  a.context = randn({2 * B, c.context_length, (int64_t)cfg.cross_attention_dim});
  a.mask = Tensor({2 * B, c.context_length}, 1.f);
  a.step.eta = 1.0;
  a.step.guidance_scale = 4.f;
  a.clip_range = 0.2;
  a.loss_scale = 0.5;
  a.kl_weight = 0.1;
  PolicyStepArgs resident = a;  // the trajectory's latents already on the GPU
  resident.sample = a.sample.to(Device::kCuda);
  resident.prev_sample = a.prev_sample.to(Device::kCuda);
  resident.anchor_mean = a.anchor_mean.to(Device::kCuda);
  cpu.params().zero_grad();
  gpu.params().zero_grad();
  const PolicyStepResult rc = policy_step(cpu, a), rg = policy_step(gpu, resident);
  std::printf("    policy step: loss cpu %.9g gpu %.9g; KL cpu %.9g gpu %.9g; log-prob[0] cpu %.9g gpu %.9g\n",
              rc.ppo.loss, rg.ppo.loss, rc.kl_anchor, rg.kl_anchor, rc.log_prob[0], rg.log_prob[0]);
  for (int64_t b = 0; b < B; ++b)
    CHECK(std::abs(rg.log_prob[b] - rc.log_prob[b]) <= 1e-3 * std::abs(rc.log_prob[b]), "log-probs differ");
  CHECK(std::abs(rg.kl_anchor - rc.kl_anchor) <= 1e-3 * std::abs(rc.kl_anchor), "KL differs");
  expect_close("policy step d context", rg.grad_context, rc.grad_context, kFp32Tol);
  expect_params_close("policy step parameter gradients", gpu.params(), cpu.params(), ParamPart::kGrad, kFp32Tol,
                      ParamScale::kFloored);
}

// The VAE on the GPU against the CPU, with a 512-channel mid block (its attention takes the wide
// path, as Stable Diffusion's VAE does).
TEST(cuda_vae_matches_cpu) {
  require_device();
  const VaeConfig cfg = VaeConfig::from_json(Json::parse(R"({"in_channels":3,"out_channels":3,"latent_channels":4,
    "block_out_channels":[32,512],"down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D"],
    "up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D"],"layers_per_block":1,"norm_num_groups":32})"));
  AutoencoderKL cpu(cfg, 4), gpu(cfg, 4);
  gpu.params().to(Device::kCuda);
  const Tensor z = randn({1, 4, 8, 8}), images = randn({1, 3, 16, 16});
  expect_close("vae decode (512-wide mid attention)", gpu.decode(z.to(Device::kCuda)).to(Device::kCpu), cpu.decode(z),
               kFp32Tol);
  Tensor mean, logvar, mean_gpu, logvar_gpu;
  cpu.encode(images, &mean, &logvar);
  gpu.encode(images.to(Device::kCuda), &mean_gpu, &logvar_gpu);
  expect_close("vae encode mean", mean_gpu, mean, kFp32Tol);
  expect_close("vae encode logvar", logvar_gpu, logvar, kFp32Tol);
}

// The report text encoder on the GPU against the CPU: output and every parameter gradient.
TEST(cuda_text_encoder_matches_cpu) {
  require_device();
  const TextEncoderConfig cfg = TextEncoderConfig::from_json(
      Json::parse(R"({"vocab_size":300,"width":64,"layers":2,"heads":4,"max_length":48})"));
  TextEncoder cpu(cfg, 3), gpu(cfg, 3);
  gpu.params().to(Device::kCuda);
  const int64_t B = 3, L = 48;
  std::vector<int32_t> ids(B * L);
  for (auto& id : ids) id = rand_int(0, 299);
  Tensor mask({B, L}, 1.f);
  for (int64_t t = 30; t < L; ++t) mask.v[t] = 0.f;  // padding in the first report
  const Tensor y = cpu.forward(ids.data(), B, L, mask);
  expect_close("text encoder output", gpu.forward(ids.data(), B, L, mask.to(Device::kCuda)).to(Device::kCpu), y,
               kFp32Tol);
  const Tensor gy = randn(y.shape);
  cpu.params().zero_grad();
  gpu.params().zero_grad();
  cpu.backward(gy);
  gpu.backward(gy.to(Device::kCuda));
  expect_params_close("text encoder parameter gradients", gpu.params(), cpu.params(), ParamPart::kGrad, kFp32Tol,
                      ParamScale::kFloored);
}

// The sampling step (rl/sample_step.h) on the GPU against the CPU: x_prev, log-probs and the mean.
TEST(cuda_sample_step_matches_cpu) {
  require_device();
  const UNetCase& c = step_case();
  const UNetConfig cfg = case_config(c);
  UNet2DCondition cpu(cfg, 4), gpu(cfg, 4);
  gpu.params().to(Device::kCuda);
  SampleStepArgs a;
  a.sample = randn({c.batch, (int64_t)cfg.in_channels, c.size, c.size});
  a.timesteps.assign(c.batch, 600.f);
  a.context = randn({2 * c.batch, c.context_length, (int64_t)cfg.cross_attention_dim});
  a.step.alpha_bar_t.assign(c.batch, 0.4);
  a.step.alpha_bar_prev.assign(c.batch, 0.5);
  a.step.eta = 1.0;
  a.step.guidance_scale = 7.5f;
  a.step.seed = 3;
  a.keep_mean = true;
  const SampleStepResult rc = sample_step(cpu, a);
  SampleStepArgs ag = a;
  ag.sample = a.sample.to(Device::kCuda);
  const SampleStepResult rg = sample_step(gpu, ag);
  expect_close("sample step x_prev", rg.prev_sample.to(Device::kCpu), rc.prev_sample, kFp32Tol);
  expect_close("sample step mean", rg.mean.to(Device::kCpu), rc.mean, kFp32Tol);
  for (int64_t b = 0; b < c.batch; ++b)
    CHECK(std::abs(rg.log_prob[b] - rc.log_prob[b]) <= 1e-3 * std::abs(rc.log_prob[b]), "sample step log-prob differs");
}

// The pretraining micro-batch (model/denoise_step.h) on the GPU against the CPU: the loss, d/d(context)
// and every parameter gradient.
TEST(cuda_denoise_step_matches_cpu) {
  require_device();
  const UNetCase& c = step_case();
  const UNetConfig cfg = case_config(c);
  UNet2DCondition cpu(cfg, 6), gpu(cfg, 6);
  gpu.params().to(Device::kCuda);
  DenoiseStepArgs a;
  a.sample = randn({c.batch, (int64_t)cfg.in_channels, c.size, c.size});
  a.target = randn(a.sample.shape);
  a.timesteps = Tensor({c.batch}, 420.f);
  a.context = randn({c.batch, c.context_length, (int64_t)cfg.cross_attention_dim});
  a.loss_scale = 0.5f;
  cpu.params().zero_grad();
  gpu.params().zero_grad();
  const DenoiseStepResult rc = denoise_step(cpu, a), rg = denoise_step(gpu, a);
  std::printf("    denoise step: loss cpu %.9g gpu %.9g\n", rc.loss, rg.loss);
  CHECK(std::abs(rg.loss - rc.loss) <= 1e-3 * std::abs(rc.loss), "denoise step loss differs");
  expect_close("denoise step d context", rg.grad_context, rc.grad_context, kFp32Tol);
  expect_params_close("denoise step parameter gradients", gpu.params(), cpu.params(), ParamPart::kGrad, kFp32Tol,
                      ParamScale::kFloored);
}
