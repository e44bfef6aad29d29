// GEMM parity (built-in and OpenBLAS against float64), optimizer against a hand reference,
// safetensors round trips, UNet gradients by finite differences, and a memory-leak check.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/gemm.h"
#include "core/parallel.h"
#include "io/safetensors.h"
#include "model/optimizer.h"
#include "model/text_encoder.h"
#include "model/unet.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;

// Error of each element relative to the scale float32 summation can reach: sum |a||b| + |beta c|.
// The classical bound is K * u (u = 2^-24) of that scale.
static double gemm_error(bool ta, bool tb, int M, int N, int K, float beta, bool builtin) {
  Tensor A = randn(ta ? Shape{K, M} : Shape{M, K}), B = randn(tb ? Shape{N, K} : Shape{K, N}), C = randn({M, N});
  std::vector<double> ref(M * N), scale(M * N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0, mag = 0;
      for (int k = 0; k < K; ++k) {
        const double p = (double)(ta ? A.v[k * M + i] : A.v[i * K + k]) * (tb ? B.v[j * K + k] : B.v[k * N + j]);
        s += p;
        mag += std::fabs(p);
      }
      ref[i * N + j] = 0.5 * s + beta * C.v[i * N + j];
      scale[i * N + j] = 0.5 * mag + std::fabs(beta * C.v[i * N + j]);
    }
  if (builtin)
    sgemm_builtin(ta, tb, M, N, K, 0.5f, A.data(), ta ? M : K, B.data(), tb ? K : N, beta, C.data(), N);
  else
    sgemm(ta, tb, M, N, K, 0.5f, A.data(), ta ? M : K, B.data(), tb ? K : N, beta, C.data(), N);
  double worst = 0;
  for (int i = 0; i < M * N; ++i) worst = std::max(worst, std::fabs(C.v[i] - ref[i]) / (scale[i] + 1e-30));
  return worst;
}

TEST(gemm_builtin_and_openblas_match_float64) {
  const GemmBackend selected = gemm_backend();  // restored at the end: later tests use the run's choice
  std::uniform_int_distribution<int> dim(1, 300);
  for (int rep = 0; rep < 3; ++rep)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const int M = dim(rng()), N = dim(rng()), K = dim(rng());
        const float beta = rep == 0 ? 0.f : 0.7f;
        const double eb = gemm_error(ta, tb, M, N, K, beta, true);
        const double bound = (K + 2) * 5.96e-8;
        std::printf("    builtin  %c%c M%-3d N%-3d K%-3d beta %.1f  max err / sum|ab| %.2e (bound K*u %.2e)\n",
                    ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, beta, eb, bound);
        CHECK(eb < bound, "built-in GEMM differs from float64");
        if (openblas_available()) {
          set_gemm_backend(GemmBackend::kOpenBlas);
          const double eo = gemm_error(ta, tb, M, N, K, beta, false);
          CHECK(eo < bound, "OpenBLAS GEMM differs from float64");
          std::printf("    openblas %c%c                     max err / sum|ab| %.2e\n", ta ? 'T' : 'N', tb ? 'T' : 'N',
                      eo);
        }
      }
  if (!openblas_available()) std::printf("    (this build has no OpenBLAS; only the built-in GEMM was checked)\n");
  set_gemm_backend(selected);
}

TEST(adamw_matches_reference_update) {
  ParamStore ps;
  Param* p = ps.add("w", {5}, Init::kUniformFanIn, 1);
  const FloatStorage start = p->value.v;
  AdamConfig c;
  c.lr = 0.1f;
  c.weight_decay = 0.05f;
  AdamOptimizer opt({p}, c);
  std::vector<double> ref(start.begin(), start.end()), m(5, 0), v(5, 0);
  for (int t = 1; t <= 3; ++t) {
    for (int i = 0; i < 5; ++i) p->grad.v[i] = 0.3f * (i - 2) + 0.1f * t;
    opt.step();
    for (int i = 0; i < 5; ++i) {
      const double g = 0.3 * (i - 2) + 0.1 * t;
      ref[i] -= 0.1 * 0.05 * ref[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
      ref[i] -= 0.1 * mh / (std::sqrt(vh) + 1e-8);
    }
  }
  double worst = 0;
  for (int i = 0; i < 5; ++i) worst = std::max(worst, std::fabs(p->value.v[i] - ref[i]));
  std::printf("    AdamW after 3 steps: max abs err vs float64 reference %.2e\n", worst);
  CHECK(worst < 1e-5, "AdamW update differs from the reference");
  for (float& g : p->grad.v) g = 3.f;
  const double norm = clip_grad_norm({p}, 1.0);
  double after = 0;
  for (float g : p->grad.v) after += (double)g * g;
  CHECK(std::fabs(norm - std::sqrt(45.0)) < 1e-4 && std::fabs(std::sqrt(after) - 1.0) < 1e-4, "grad clipping");
}

TEST(safetensors_round_trip_and_errors) {
  // A folder of this test's own, removed at the end.
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("cxrl-engine-test-" + std::to_string(rng()()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "round-trip.safetensors").string();
  Tensor a = randn({2, 3}), b = randn({4});
  write_safetensors(path, {{"a", &a}, {"b.x", &b}}, {{"format", "pt"}});
  SafetensorsFile f = read_safetensors(path);
  CHECK(f.tensors.at("a").v == a.v && f.tensors.at("b.x").v == b.v, "round trip changed values");
  CHECK(f.metadata.at("format") == "pt", "metadata lost");
  // float16 file written by hand: 1.0, -2.0, 0.5, 65504 (max half)
  const std::string h = "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}";
  {
    std::ofstream o(path, std::ios::binary);
    uint64_t n = h.size();
    o.write((const char*)&n, 8);
    o << h;
    const uint16_t vals[4] = {0x3C00, 0xC000, 0x3800, 0x7BFF};
    o.write((const char*)vals, 8);
  }
  Tensor hv = read_safetensors(path).tensors.at("h");
  CHECK(hv.v[0] == 1.f && hv.v[1] == -2.f && hv.v[2] == 0.5f && hv.v[3] == 65504.f, "float16 decoding");
  // Truncated file: the error names the file and says what is wrong.
  {
    std::ofstream o(path, std::ios::binary);
    uint64_t n = h.size();
    o.write((const char*)&n, 8);
    o << h;
    o.write("\0\0", 2);
  }
  bool threw = false;
  try {
    read_safetensors(path);
  } catch (const std::exception& e) {
    threw = std::string(e.what()).find(path) != std::string::npos;
    std::printf("    truncated file -> %s\n", e.what());
  }
  CHECK(threw, "truncated file not reported with its path");
  std::filesystem::remove_all(dir);
}

static UNetConfig tiny_config(bool linear_proj) {
  Json j = Json::parse(std::string(R"({"in_channels":1,"out_channels":1,"sample_size":8,"block_out_channels":[8,16],
    "down_block_types":["CrossAttnDownBlock2D","DownBlock2D"],"up_block_types":["UpBlock2D","CrossAttnUpBlock2D"],
    "layers_per_block":1,"attention_head_dim":2,"cross_attention_dim":6,"norm_num_groups":4,
    "use_linear_projection":)") +
                       (linear_proj ? "true" : "false") + "}");
  return UNetConfig::from_json(j);
}

TEST(unet_gradients_fd) {
  for (bool linear_proj : {false, true}) {
    UNet2DCondition net(tiny_config(linear_proj), 7);
    const Tensor t({2}, std::vector<float>{10.f, 500.f});
    Tensor mask({2, 3}, 1.f);
    mask.v[5] = 0.f;
    // Inputs: sample, encoder_hidden_states, and a few parameters through a setter.
    std::vector<std::string> pnames = {"conv_in.weight",
                                       "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight",
                                       "mid_block.resnets.0.time_emb_proj.weight",
                                       "up_blocks.1.resnets.1.norm1.weight",
                                       "time_embedding.linear_1.bias",
                                       "conv_out.bias"};
    std::vector<Tensor> inputs{randn({2, 1, 8, 8}), randn({2, 3, 6})};
    for (const auto& n : pnames) inputs.push_back(net.params().find(n)->value);
    auto load = [&](const std::vector<Tensor>& in) {
      for (size_t k = 0; k < pnames.size(); ++k) net.params().find(pnames[k])->value = in[2 + k];
    };
    fd_directional_check(
        std::string("unet (") + (linear_proj ? "linear" : "conv") + " projection): sample, context, 6 params", inputs,
        [&](const std::vector<Tensor>& in) {
          load(in);
          return net.forward(in[0], t, in[1], &mask);
        },
        [&](const std::vector<Tensor>& in, const Tensor& gy) {
          load(in);
          net.params().zero_grad();
          net.forward(in[0], t, in[1], &mask);
          UNetGrads g = net.backward(gy);
          std::vector<Tensor> out{g.sample, g.encoder_hidden_states};
          for (const auto& n : pnames) out.push_back(net.params().find(n)->grad);
          return out;
        },
        // The whole network in float32: a directional check per input; the tight check of every
        // single gradient entry is the PyTorch parity test (1e-4 relative). Along the gradient the
        // float32 difference quotient misses by 2e-4 to 8.3e-3 depending on the seed (truncation
        // and rounding; seed 899305496 gives 8.3e-3); a wrong gradient misses by order 1.
        2e-2, 1e-2f);
  }
}

// LoRA: the adapted UNet's gradients for the adapters (B made nonzero so that A gets a gradient
// too), the sample and the context against finite differences; the frozen base weights get none.
TEST(unet_lora_gradients_fd) {
  UNet2DCondition net(tiny_config(false), 7);
  const int64_t base = net.params().count();
  net.enable_lora(2, 1.5f);
  int64_t lora = 0;
  for (const auto& p : net.params().all())
    if (p->trainable) lora += p->value.numel();
  CHECK(net.params().count() == base + lora && lora > 0, "LoRA adds only the adapters as trainable parameters");
  const std::string a = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
                    b = "up_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0";
  std::vector<std::string> pnames = {a + ".lora_A.weight", a + ".lora_B.weight", b + ".lora_A.weight",
                                     b + ".lora_B.weight"};
  for (const auto& n : pnames)
    if (n.find("lora_B") != std::string::npos) net.params().find(n)->value = randn(net.params().find(n)->value.shape);
  const Tensor t({2}, std::vector<float>{10.f, 500.f});
  std::vector<Tensor> inputs{randn({2, 1, 8, 8}), randn({2, 3, 6})};
  for (const auto& n : pnames) inputs.push_back(net.params().find(n)->value);
  auto load = [&](const std::vector<Tensor>& in) {
    for (size_t k = 0; k < pnames.size(); ++k) net.params().find(pnames[k])->value = in[2 + k];
  };
  fd_directional_check(
      "unet with LoRA rank 2: sample, context, 4 adapter matrices", inputs,
      [&](const std::vector<Tensor>& in) {
        load(in);
        return net.forward(in[0], t, in[1], nullptr);
      },
      [&](const std::vector<Tensor>& in, const Tensor& gy) {
        load(in);
        net.params().zero_grad();
        net.forward(in[0], t, in[1], nullptr);
        UNetGrads g = net.backward(gy);
        std::vector<Tensor> out{g.sample, g.encoder_hidden_states};
        for (const auto& n : pnames) out.push_back(net.params().find(n)->grad);
        return out;
      },
      2e-2, 1e-2f);  // the spread of the float32 difference quotient, as in unet_gradients_fd
  bool frozen_untouched = true;
  for (const auto& p : net.params().all())
    if (!p->trainable) frozen_untouched = frozen_untouched && p->grad.numel() == 0;
  CHECK(frozen_untouched, "frozen base weights must get no gradient buffer");
}

TEST(text_encoder_gradients_fd) {
  TextEncoderConfig cfg =
      TextEncoderConfig::from_json(Json::parse(R"({"vocab_size":11,"max_length":8,"width":12,"layers":2,"heads":3})"));
  TextEncoder enc(cfg, 5);
  const int B = 2, L = 6;
  std::vector<int32_t> ids = {1, 4, 9, 2, 0, 0, 3, 3, 7, 10, 5, 0};
  Tensor mask({B, L}, 1.f);
  mask.v[4] = mask.v[5] = mask.v[11] = 0.f;  // padding keys
  std::vector<std::string> names;
  for (const auto& p : enc.params().all()) names.push_back(p->name);
  std::vector<Tensor> inputs;
  for (const auto& n : names) inputs.push_back(enc.params().find(n)->value);
  auto load = [&](const std::vector<Tensor>& in) {
    for (size_t k = 0; k < names.size(); ++k) enc.params().find(names[k])->value = in[k];
  };
  fd_directional_check(
      "text encoder: every parameter (" + std::to_string(names.size()) + " tensors)", inputs,
      [&](const std::vector<Tensor>& in) {
        load(in);
        return enc.forward(ids.data(), B, L, mask);
      },
      [&](const std::vector<Tensor>& in, const Tensor& gy) {
        load(in);
        enc.params().zero_grad();
        enc.forward(ids.data(), B, L, mask);
        enc.backward(gy);
        std::vector<Tensor> out;
        for (const auto& n : names) out.push_back(enc.params().find(n)->grad);
        return out;
      },
      // Its embeddings are small (~0.02), so the step is too: at 1e-2 the difference
      // quotient's truncation error reaches 5e-2 on them.
      5e-3, 2e-3f);
  // Padding tokens do not influence the real tokens' outputs.
  Tensor y1 = enc.forward(ids.data(), B, L, mask);
  std::vector<int32_t> other = ids;
  other[4] = 8;
  other[11] = 9;
  Tensor y2 = enc.forward(other.data(), B, L, mask);
  double diff = 0;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < L; ++t)
      if (mask.v[b * L + t] != 0.f)
        for (int d = 0; d < 12; ++d)
          diff = std::max(diff, (double)std::fabs(y1.v[(b * L + t) * 12 + d] - y2.v[(b * L + t) * 12 + d]));
  std::printf("    changing padding tokens moves real-token outputs by %.2e\n", diff);
  CHECK(diff == 0.0, "padding leaks into real tokens");
}

TEST(unet_backward_is_bitwise_reproducible) {
  // Reductions add per-chunk partials in a fixed order, so repeated passes agree bit for bit
  // (what exact resumption of training relies on).
  UNet2DCondition net(tiny_config(true), 3);
  Tensor x = randn({3, 1, 8, 8}), t({3}, std::vector<float>{5.f, 50.f, 500.f}), ctx = randn({3, 4, 6}),
         gy = randn({3, 1, 8, 8});
  std::vector<FloatStorage> runs[2];
  for (auto& run : runs) {
    net.params().zero_grad();
    net.forward(x, t, ctx);
    UNetGrads g = net.backward(gy);
    run.push_back(g.sample.v);
    run.push_back(g.encoder_hidden_states.v);
    for (const auto& p : net.params().all()) run.push_back(p->grad.v);
  }
  size_t differing = 0;
  for (size_t k = 0; k < runs[0].size(); ++k) differing += runs[0][k] != runs[1][k];
  std::printf("    %zu of %zu gradient tensors differ between two identical passes\n", differing, runs[0].size());
  CHECK(differing == 0, "backward is not reproducible");
}

TEST(unet_config_rejects_unsupported_options) {
  bool threw = false;
  try {
    UNetConfig::from_json(Json::parse(R"({"down_block_types":["DownBlock2D"],"up_block_types":["UpBlock2D"],
      "block_out_channels":[32],"class_embed_type":"timestep"})"));
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("class_embed_type") != std::string::npos;
    std::printf("    -> %s\n", e.what());
  }
  CHECK(threw, "unsupported option not named in the error");
}

static long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif

TEST(no_memory_growth_over_training_loop) {
  UNet2DCondition net(tiny_config(false), 1);
  std::vector<Param*> ps;
  for (const auto& p : net.params().all()) ps.push_back(p.get());
  AdamOptimizer opt(ps, AdamConfig{});
  Tensor x = randn({4, 1, 8, 8}), t({4}, 100.f), ctx = randn({4, 3, 6});
  auto step = [&] {
    net.params().zero_grad();
    Tensor y = net.forward(x, t, ctx);
    net.backward(y);
    clip_grad_norm(ps, 1.0);
    opt.step();
  };
  for (int i = 0; i < 20; ++i) step();  // warm up allocator and thread pool
  const long before = rss_kb();
  for (int i = 0; i < 300; ++i) step();
  const long after = rss_kb();
  std::printf("    RSS before %ld kB, after 300 more steps %ld kB (growth %ld kB)\n", before, after, after - before);
  if (kUnderAsan) {
    // ASan keeps freed memory in quarantine (RSS grows by design); LeakSanitizer checks at exit.
    std::printf("    under AddressSanitizer: RSS not checked; LeakSanitizer reports leaks at exit\n");
    return;
  }
  CHECK(after - before < 2048, "resident memory grows across steps");
}
