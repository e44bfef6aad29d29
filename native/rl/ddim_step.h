// The fused DDIM step with log-probability (DDPO's ddim_step_with_logprob), in one pass over memory:
//   m     = eps_uncond + w (eps_cond - eps_uncond)          (or the single model output)
//   x0    = from m by prediction type, optionally clipped to [-r, r]
//   mu    = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - std^2) eps,  std = eta * sigma_t
//   x_prev = mu + std z  (z from Philox(seed, stream + b, i), or given), or a given x_prev
//   log_prob[b] = mean_i [ -(x_prev - mu)^2 / (2 std^2) ] - log std - log sqrt(2 pi)
// The log-prob is evaluated at the float32 x_prev that is returned, so re-scoring a stored step
// with an unchanged policy gives exactly the same value (PPO ratio 1).
// The backward gives d(sum_b g_b log_prob_b) / d(model output), through the guidance combination,
// with x_prev held fixed (as in DDPO) and zero derivative where x0 was clipped.
#pragma once
#include <cstdint>
#include <vector>

namespace cxrl {

enum class PredictionType { kEpsilon, kSample, kVPrediction };
enum class NoiseSource { kSeeded, kGivenNoise, kGivenPrevSample };

struct DdimStepArgs {
  int64_t batch = 0, per_sample = 0;           // elements per sample (C*H*W)
  const float* sample = nullptr;               // x_t [B, N]
  const float* model_output = nullptr;         // eps, or eps_cond with guidance
  const float* model_output_uncond = nullptr;  // eps_uncond, or null for no guidance
  float guidance_scale = 1.f;
  std::vector<double> alpha_bar_t, alpha_bar_prev;  // one per sample
  double eta = 1.0;
  PredictionType prediction = PredictionType::kEpsilon;
  bool clip_sample = false;
  double clip_range = 1.0;
  bool use_clipped_model_output = false;
  NoiseSource noise_source = NoiseSource::kSeeded;
  const float* noise = nullptr;           // kGivenNoise
  const float* prev_sample_in = nullptr;  // kGivenPrevSample
  uint64_t seed = 0, stream_offset = 0;   // kSeeded: sample b uses stream stream_offset + b
};

// Per-sample constants, computed once in double.
struct StepCoefficients {
  double sqrt_a, sqrt_1ma, sqrt_ap, dir, std, inv_sqrt_a, inv_sqrt_1ma;
};
std::vector<StepCoefficients> step_coefficients(const DdimStepArgs& a);  // validates alpha-bars

// Deterministic partial sums: each sample is cut into chunks of kStepChunk elements (a multiple
// of 4, the Philox group); chunk sums are added in order, whatever the thread count. (The CUDA step
// uses smaller chunks, also summed in order: its log-prob matches in all but the last bits.)
constexpr int64_t kStepChunk = 16384;

// Writes prev_sample_out [B, N] (may alias nothing) and log_prob_out [B].
void ddim_step_cpu(const DdimStepArgs& a, float* prev_sample_out, double* log_prob_out);

// grad_model_output [B, N]; grad_model_output_uncond [B, N] when guidance is used.
// a.prev_sample_in must hold the x_prev of the step (noise_source = kGivenPrevSample).
void ddim_step_backward_cpu(const DdimStepArgs& a, const double* grad_log_prob, float* grad_model_output,
                            float* grad_model_output_uncond);

// The same math as separate full-array passes, as a framework would run it: the benchmark's baseline.
void ddim_step_unfused_cpu(const DdimStepArgs& a, float* prev_sample_out, double* log_prob_out);

}  // namespace cxrl
