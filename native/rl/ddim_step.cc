#include "rl/ddim_step.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/parallel.h"
#include "rl/ddim_step_math.h"

namespace cxrl {
namespace {

void validate(const DdimStepArgs& a) {
  if (a.batch <= 0 || a.per_sample <= 0) throw std::invalid_argument("ddim step: empty input");
  if (!a.sample || !a.model_output) throw std::invalid_argument("ddim step: sample and model output are required");
  if ((int64_t)a.alpha_bar_t.size() != a.batch || (int64_t)a.alpha_bar_prev.size() != a.batch)
    throw std::invalid_argument("ddim step: alpha_bar_t and alpha_bar_prev need one value per sample (or one in all)");
  if (a.noise_source == NoiseSource::kGivenNoise && !a.noise) throw std::invalid_argument("ddim step: noise missing");
  if (a.noise_source == NoiseSource::kGivenPrevSample && !a.prev_sample_in)
    throw std::invalid_argument("ddim step: prev_sample missing");
  if (!(a.eta >= 0)) throw std::invalid_argument("ddim step: eta must be >= 0");
}

}  // namespace

std::vector<StepCoefficients> step_coefficients(const DdimStepArgs& a) {
  validate(a);
  std::vector<StepCoefficients> out(a.batch);
  for (int64_t b = 0; b < a.batch; ++b) {
    const double at = a.alpha_bar_t[b], ap = a.alpha_bar_prev[b];
    if (!(at > 0 && at <= 1 && ap > 0 && ap <= 1))
      throw std::invalid_argument("ddim step: alpha-bar values must lie in (0, 1]; sample " + std::to_string(b) +
                                  " has alpha_bar_t " + std::to_string(at) + ", alpha_bar_prev " + std::to_string(ap));
    if (at >= 1 && a.prediction != PredictionType::kEpsilon)
      throw std::invalid_argument("ddim step: alpha_bar_t = 1 leaves no noise to predict");
    const double var = (1 - ap) / (1 - at) * (1 - at / ap);
    const double std = a.eta * std::sqrt(std::max(0.0, var));
    const double dir2 = 1 - ap - std * std;
    const double sa = std::sqrt(at), s1a = std::sqrt(1 - at);
    out[b] = {sa, s1a, std::sqrt(ap), std::sqrt(std::max(0.0, dir2)), std, 1.0 / sa, s1a > 0 ? 1.0 / s1a : 0.0};
  }
  return out;
}

// Sum of squared residuals over elements [i0, i1) of sample b, writing x_prev. Specialised on the
// prediction type and the noise source so that the inner loop has no branches on them.
template <PredictionType kKind, NoiseSource kSource>
double step_chunk(const DdimStepArgs& a, const StepCoefficients& c, int64_t b, int64_t i0, int64_t i1,
                  float* prev_out) {
  const int64_t base = b * a.per_sample;
  double acc = 0;
  for (int64_t g = i0; g < i1; g += 4) {
    float z[4] = {0.f, 0.f, 0.f, 0.f};
    if (kSource == NoiseSource::kSeeded) philox_normal4(a.seed, a.stream_offset + b, (uint64_t)g >> 2, z);
    const int64_t gend = std::min(i1, g + 4);
    for (int64_t i = g; i < gend; ++i) {
      const int64_t k = base + i;
      const double m = combined_output(a.model_output, a.model_output_uncond, a.guidance_scale, k);
      const double mu =
          ddim_element(a.sample[k], m, c, kKind, a.clip_sample, a.clip_range, a.use_clipped_model_output).mu;
      float prev;
      if (kSource == NoiseSource::kGivenPrevSample)
        prev = a.prev_sample_in[k];
      else if (kSource == NoiseSource::kGivenNoise)
        prev = (float)(mu + c.std * a.noise[k]);
      else
        prev = (float)(mu + c.std * z[i - g]);
      if (prev_out) prev_out[k] = prev;
      const double diff = (double)prev - mu;
      acc += diff * diff;
    }
  }
  return acc;
}

template <PredictionType kKind>
double step_chunk_for_source(const DdimStepArgs& a, const StepCoefficients& c, int64_t b, int64_t i0, int64_t i1,
                             float* prev) {
  switch (a.noise_source) {
    case NoiseSource::kGivenPrevSample:
      return step_chunk<kKind, NoiseSource::kGivenPrevSample>(a, c, b, i0, i1, prev);
    case NoiseSource::kGivenNoise:
      return step_chunk<kKind, NoiseSource::kGivenNoise>(a, c, b, i0, i1, prev);
    default:
      return step_chunk<kKind, NoiseSource::kSeeded>(a, c, b, i0, i1, prev);
  }
}

void ddim_step_cpu(const DdimStepArgs& a, float* prev_out, double* log_prob_out) {
  const std::vector<StepCoefficients> coef = step_coefficients(a);
  const int64_t N = a.per_sample, chunks = (N + kStepChunk - 1) / kStepChunk;
  std::vector<double> partial(a.batch * chunks, 0.0);
  parallel_for(a.batch * chunks, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t b = j / chunks, i0 = (j % chunks) * kStepChunk, i1 = std::min(N, i0 + kStepChunk);
      switch (a.prediction) {
        case PredictionType::kEpsilon:
          partial[j] = step_chunk_for_source<PredictionType::kEpsilon>(a, coef[b], b, i0, i1, prev_out);
          break;
        case PredictionType::kSample:
          partial[j] = step_chunk_for_source<PredictionType::kSample>(a, coef[b], b, i0, i1, prev_out);
          break;
        default:
          partial[j] = step_chunk_for_source<PredictionType::kVPrediction>(a, coef[b], b, i0, i1, prev_out);
      }
    }
  });
  for (int64_t b = 0; b < a.batch; ++b) {
    double sq = 0;
    for (int64_t c = 0; c < chunks; ++c) sq += partial[b * chunks + c];
    const double s = coef[b].std;
    // A deterministic step (std = 0) has no density; its log-prob is defined as 0.
    log_prob_out[b] = s > 0 ? -sq / (2 * s * s * N) - std::log(s) - kHalfLog2Pi : 0.0;
  }
}

void ddim_step_backward_cpu(const DdimStepArgs& a, const double* grad_lp, float* grad_m, float* grad_m_uncond) {
  if (a.noise_source != NoiseSource::kGivenPrevSample)
    throw std::invalid_argument("ddim step backward: needs the step's prev_sample");
  const std::vector<StepCoefficients> coef = step_coefficients(a);
  const PredictionType kind = a.prediction;
  const int64_t N = a.per_sample;
  const float w = a.guidance_scale;
  parallel_for(a.batch * N, 8192, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t b = k / N;
      const StepCoefficients& c = coef[b];
      double g = 0;
      if (c.std > 0) {
        const double m = combined_output(a.model_output, a.model_output_uncond, w, k);
        const ElementTerms t =
            ddim_element(a.sample[k], m, c, kind, a.clip_sample, a.clip_range, a.use_clipped_model_output);
        // d lp / d mu = (x_prev - mu) / (std^2 N)
        g = grad_lp[b] * ((double)a.prev_sample_in[k] - t.mu) / (c.std * c.std * N) * t.dmu_dm;
      }
      if (a.model_output_uncond) {
        grad_m[k] = (float)(w * g);
        grad_m_uncond[k] = (float)((1.0 - w) * g);
      } else {
        grad_m[k] = (float)g;
      }
    }
  });
}

// Baseline for the benchmark: each line below is one pass over full float32 arrays (read inputs,
// write a temporary), like a framework's eager ops.
void ddim_step_unfused_cpu(const DdimStepArgs& a, float* prev_out, double* log_prob_out) {
  const std::vector<StepCoefficients> coef = step_coefficients(a);
  const int64_t N = a.per_sample, n = a.batch * N;
  std::vector<float> eps(n), x0(n), mu(n), diff(n);
  auto pass = [&](auto fn) {
    parallel_for(n, 16384, [&](int64_t s, int64_t e) {
      for (int64_t k = s; k < e; ++k) fn(k, coef[k / N]);
    });
  };
  if (a.model_output_uncond) {
    pass([&](int64_t k, const StepCoefficients&) { eps[k] = a.model_output[k] - a.model_output_uncond[k]; });
    pass([&](int64_t k, const StepCoefficients&) { eps[k] = a.model_output_uncond[k] + a.guidance_scale * eps[k]; });
  } else {
    pass([&](int64_t k, const StepCoefficients&) { eps[k] = a.model_output[k]; });
  }
  pass([&](int64_t k, const StepCoefficients& c) { x0[k] = (float)((a.sample[k] - c.sqrt_1ma * eps[k]) / c.sqrt_a); });
  if (a.clip_sample)
    pass([&](int64_t k, const StepCoefficients&) {
      x0[k] = std::fmin(std::fmax(x0[k], -(float)a.clip_range), (float)a.clip_range);
    });
  pass([&](int64_t k, const StepCoefficients& c) { mu[k] = (float)(c.sqrt_ap * x0[k]); });
  pass([&](int64_t k, const StepCoefficients& c) { mu[k] += (float)(c.dir * eps[k]); });
  if (a.noise_source == NoiseSource::kGivenPrevSample)
    pass([&](int64_t k, const StepCoefficients&) { prev_out[k] = a.prev_sample_in[k]; });
  else if (a.noise_source == NoiseSource::kGivenNoise)
    pass([&](int64_t k, const StepCoefficients& c) { prev_out[k] = mu[k] + (float)c.std * a.noise[k]; });
  else
    pass([&](int64_t k, const StepCoefficients& c) {
      prev_out[k] = mu[k] + (float)c.std * philox_normal(a.seed, a.stream_offset + k / N, k % N);
    });
  pass([&](int64_t k, const StepCoefficients&) { diff[k] = prev_out[k] - mu[k]; });
  pass([&](int64_t k, const StepCoefficients&) { diff[k] = diff[k] * diff[k]; });
  for (int64_t b = 0; b < a.batch; ++b) {
    double sq = 0;
    for (int64_t i = 0; i < N; ++i) sq += diff[b * N + i];
    const double s = coef[b].std;
    log_prob_out[b] = s > 0 ? -sq / (2 * s * s * N) - std::log(s) - kHalfLog2Pi : 0.0;
  }
}

}  // namespace cxrl
