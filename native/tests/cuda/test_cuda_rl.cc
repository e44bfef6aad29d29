// The CUDA fused DDIM step (forward with log-prob, backward) and PPO kernel against their CPU twins,
// over every prediction type, guidance on and off, clipping, and all three noise sources (seeded
// Philox noise must give the same x_prev on both devices).
#include <algorithm>
#include <cmath>

#include "cuda/check.h"
#include "cuda/rl_cuda.h"
#include "rl/ddim_step.h"
#include "rl/ppo.h"
#include "tests/cuda/cuda_compare.h"
#include "tests/harness.h"

using namespace cxrl;
using namespace cxrl::test;

TEST(cuda_ddim_step_matches_cpu) {
  require_device();
  const char* kinds[] = {"epsilon", "sample", "v"};
  const char* sources[] = {"seeded", "given noise", "given x_prev"};
  // Seeded noise is drawn on each device with its own float log/sin/cos (an ulp apart), so x_prev
  // and the log-prob agree to float rounding there; with given noise or x_prev the double math
  // agrees to the summation order.
  double worst_prev = 0, worst_lp_seeded = 0, worst_lp_given = 0, worst_grad = 0;
  int cases = 0;
  for (int kind = 0; kind < 3; ++kind)
    for (int source = 0; source < 3; ++source)
      for (int guided = 0; guided < 2; ++guided) {
        const int64_t B = rand_int(1, 4), N = rand_int(1, 40000);  // past one 16384-element chunk
        const Tensor x = randn({B, N}), m = randn({B, N}), u = randn({B, N}), z = randn({B, N}),
                     given_prev = randn({B, N});
        DdimStepArgs a;
        a.batch = B;
        a.per_sample = N;
        a.sample = x.data();
        a.model_output = m.data();
        a.model_output_uncond = guided ? u.data() : nullptr;
        a.guidance_scale = 4.5f;
        for (int64_t b = 0; b < B; ++b) {
          a.alpha_bar_t.push_back(0.3 + 0.1 * b);
          a.alpha_bar_prev.push_back(0.45 + 0.1 * b);
        }
        a.prediction = (PredictionType)kind;
        a.clip_sample = kind != 0;
        a.noise_source = (NoiseSource)source;
        a.noise = z.data();
        a.prev_sample_in = given_prev.data();
        a.seed = 1234 + cases;
        a.stream_offset = 7;
        std::vector<float> prev_cpu(B * N), prev_gpu(B * N);
        std::vector<double> lp_cpu(B), lp_gpu(B);
        ddim_step_cpu(a, prev_cpu.data(), lp_cpu.data());
        ddim_step_cuda_host(a, prev_gpu.data(), lp_gpu.data());
        const double e_prev = max_rel_error(prev_gpu.data(), prev_cpu.data(), B * N);
        double e_lp = 0;
        for (int64_t b = 0; b < B; ++b) e_lp = std::max(e_lp, std::fabs(lp_gpu[b] - lp_cpu[b]) / std::fabs(lp_cpu[b]));
        // Backward at the step's own x_prev, with per-sample upstream gradients.
        DdimStepArgs back = a;
        back.noise_source = NoiseSource::kGivenPrevSample;
        back.prev_sample_in = prev_cpu.data();
        std::vector<double> g(B);
        for (int64_t b = 0; b < B; ++b) g[b] = 0.5 + b;
        std::vector<float> gm_cpu(B * N), gu_cpu(B * N), gm_gpu(B * N), gu_gpu(B * N);
        ddim_step_backward_cpu(back, g.data(), gm_cpu.data(), guided ? gu_cpu.data() : nullptr);
        ddim_step_backward_cuda_host(back, g.data(), gm_gpu.data(), guided ? gu_gpu.data() : nullptr);
        double e_grad = max_rel_error(gm_gpu.data(), gm_cpu.data(), B * N);
        if (guided) e_grad = std::max(e_grad, max_rel_error(gu_gpu.data(), gu_cpu.data(), B * N));
        std::printf("    %-8s %-13s %-9s B %lld N %6lld: x_prev %.2e, log-prob %.2e, backward %.2e\n", kinds[kind],
                    sources[source], guided ? "guided" : "unguided", (long long)B, (long long)N, e_prev, e_lp, e_grad);
        worst_prev = std::max(worst_prev, e_prev);
        double& worst_lp = source == 0 ? worst_lp_seeded : worst_lp_given;
        worst_lp = std::max(worst_lp, e_lp);
        worst_grad = std::max(worst_grad, e_grad);
        ++cases;
      }
  CHECK(worst_prev < 1e-6, "CUDA x_prev differs from the CPU step");
  CHECK(worst_lp_seeded < 1e-6, "CUDA log-prob (seeded noise) differs from the CPU step");
  CHECK(worst_lp_given < 1e-12, "CUDA log-prob (given noise or x_prev) differs from the CPU step");
  CHECK(worst_grad < 1e-6, "CUDA step backward differs from the CPU step");
}

TEST(cuda_ppo_matches_cpu) {
  require_device();
  for (int B : {1, 7, 256, 1024}) {
    std::vector<double> lp(B), old_lp(B), adv(B);
    for (int b = 0; b < B; ++b) {
      old_lp[b] = -1.0 + 0.01 * randn({1}).v[0];
      lp[b] = old_lp[b] + 2e-4 * randn({1}).v[0];
      adv[b] = 3.0 * randn({1}).v[0];
    }
    PpoArgs a;
    a.batch = B;
    a.log_prob = lp.data();
    a.old_log_prob = old_lp.data();
    a.advantages = adv.data();
    std::vector<double> g_cpu(B), g_gpu(B);
    const PpoStats c = ppo_loss_cpu(a, g_cpu.data()), d = ppo_loss_cuda_host(a, g_gpu.data());
    double e = std::max(
        {std::fabs(c.loss - d.loss), std::fabs(c.approx_kl - d.approx_kl), std::fabs(c.clipfrac - d.clipfrac)});
    for (int b = 0; b < B; ++b) e = std::max(e, std::fabs(g_cpu[b] - g_gpu[b]));
    std::printf("    ppo batch %4d: loss %.6f (clipfrac %.3f), max abs diff to the CPU twin %.2e\n", B, c.loss,
                c.clipfrac, e);
    CHECK(e < 1e-12, "CUDA PPO differs from the CPU twin");
  }
}
