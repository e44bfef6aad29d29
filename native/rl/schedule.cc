#include "rl/schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cxrl {

NoiseSchedule make_noise_schedule(const ScheduleConfig& c) {
  const int T = c.num_train_timesteps;
  if (T < 2) throw std::invalid_argument("num_train_timesteps must be at least 2");
  if (!(c.beta_start > 0 && c.beta_end >= c.beta_start && c.beta_end < 1))
    throw std::invalid_argument("beta_start and beta_end must satisfy 0 < beta_start <= beta_end < 1");
  if (!(c.clip_sample_range > 0)) throw std::invalid_argument("clip_sample_range must be positive");
  if (c.steps_offset < 0 || c.steps_offset >= T)
    throw std::invalid_argument("steps_offset must be in [0, num_train_timesteps)");
  NoiseSchedule s;
  s.num_train_timesteps = T;
  s.betas.resize(T);
  if (c.beta_schedule == "linear") {
    for (int i = 0; i < T; ++i) s.betas[i] = c.beta_start + (c.beta_end - c.beta_start) * i / (T - 1);
  } else if (c.beta_schedule == "scaled_linear") {
    const double a = std::sqrt(c.beta_start), b = std::sqrt(c.beta_end);
    for (int i = 0; i < T; ++i) {
      const double r = a + (b - a) * i / (T - 1);
      s.betas[i] = r * r;
    }
  } else if (c.beta_schedule == "squaredcos_cap_v2") {
    // Nichol & Dhariwal's cosine schedule, betas capped at 0.999 (diffusers' betas_for_alpha_bar).
    auto alpha_bar = [](double t) {
      const double v = std::cos((t + 0.008) / 1.008 * M_PI / 2);
      return v * v;
    };
    for (int i = 0; i < T; ++i) s.betas[i] = std::min(1.0 - alpha_bar((i + 1.0) / T) / alpha_bar((double)i / T), 0.999);
  } else {
    throw std::invalid_argument("unknown beta_schedule '" + c.beta_schedule +
                                "' (linear, scaled_linear, squaredcos_cap_v2)");
  }
  s.alphas_cumprod.resize(T);
  double prod = 1.0;
  for (int i = 0; i < T; ++i) {
    prod *= 1.0 - s.betas[i];
    s.alphas_cumprod[i] = prod;
  }
  s.final_alpha_cumprod = c.set_alpha_to_one ? 1.0 : s.alphas_cumprod[0];
  return s;
}

std::vector<int> ddim_timesteps(const ScheduleConfig& c, int steps) {
  const int T = c.num_train_timesteps;
  if (steps < 1 || steps > T)
    throw std::invalid_argument("num_inference_steps must be in [1, " + std::to_string(T) + "], got " +
                                std::to_string(steps));
  std::vector<int> ts(steps);
  if (c.timestep_spacing == "leading") {
    const int ratio = T / steps;
    for (int i = 0; i < steps; ++i) ts[i] = (steps - 1 - i) * ratio + c.steps_offset;
  } else if (c.timestep_spacing == "trailing") {
    // As diffusers: np.round(np.arange(T, 0, -T / steps)) - 1; numpy rounds halves to even, as
    // std::nearbyint does in the default rounding mode.
    const double ratio = (double)T / steps;
    for (int i = 0; i < steps; ++i) ts[i] = (int)std::nearbyint(T - i * ratio) - 1;
  } else if (c.timestep_spacing == "linspace") {
    // As diffusers: np.linspace(0, T - 1, steps).round()[::-1]; numpy's linspace is j * step with
    // step = (T - 1) / (steps - 1) and the last value set to T - 1 exactly; halves round to even.
    const double step = steps > 1 ? (double)(T - 1) / (steps - 1) : 0.0;
    for (int i = 0; i < steps; ++i) {
      const int j = steps - 1 - i;
      ts[i] = (int)std::nearbyint(steps > 1 && j == steps - 1 ? (double)(T - 1) : j * step);
    }
  } else {
    throw std::invalid_argument("unknown timestep_spacing '" + c.timestep_spacing + "' (leading, trailing, linspace)");
  }
  return ts;
}

DdimSchedule::DdimSchedule(const ScheduleConfig& c, int steps)
    : config_(c),
      noise_(make_noise_schedule(c)),
      timesteps_(ddim_timesteps(c, steps)),
      step_ratio_(c.num_train_timesteps / steps) {}

int DdimSchedule::check(int i) const {
  if (i < 0 || i >= steps())
    throw std::out_of_range("step index " + std::to_string(i) + " is outside [0, " + std::to_string(steps()) + ")");
  return i;
}

void DdimSchedule::fill_step_args(const std::vector<int>& step_index, DdimStepArgs& a) const {
  a.alpha_bar_t.clear();
  a.alpha_bar_prev.clear();
  for (int i : step_index) {
    a.alpha_bar_t.push_back(alpha_bar_t(i));
    a.alpha_bar_prev.push_back(alpha_bar_prev(i));
  }
  a.prediction = config_.prediction_type;
  a.clip_sample = config_.clip_sample;
  a.clip_range = config_.clip_sample_range;
}

}  // namespace cxrl
