// The one owner of DDIM scheduling, as diffusers' DDIMScheduler is one class: the noise schedule
// (betas, alpha-bars), set_timesteps (leading / trailing / linspace spacing, steps_offset), the
// previous-timestep rule, alpha-bar lookups by inference step, the step's prediction settings,
// and the validation of all of it. JavaScript holds it as `DdimSchedule` and passes a step index
// to the fused step (rl_binding.cc), never recomputed alpha-bars.
#pragma once
#include <string>
#include <vector>

#include "rl/ddim_step.h"

namespace cxrl {

// diffusers' scheduler_config.json keys, with Stable Diffusion v1.x's values as defaults.
struct ScheduleConfig {
  int num_train_timesteps = 1000;
  double beta_start = 0.00085, beta_end = 0.012;
  std::string beta_schedule = "scaled_linear";  // linear | scaled_linear | squaredcos_cap_v2
  bool set_alpha_to_one = false;
  int steps_offset = 1;
  std::string timestep_spacing = "leading";  // leading | trailing | linspace
  PredictionType prediction_type = PredictionType::kEpsilon;
  bool clip_sample = false;
  double clip_sample_range = 1.0;
};

struct NoiseSchedule {
  std::vector<double> betas, alphas_cumprod;
  double final_alpha_cumprod = 1.0;  // alpha-bar used when the previous timestep is < 0
  int num_train_timesteps = 0;

  double alpha_bar(int t) const { return t >= 0 ? alphas_cumprod.at(t) : final_alpha_cumprod; }
};

NoiseSchedule make_noise_schedule(const ScheduleConfig& c);  // validates c; throws std::invalid_argument

// Inference timesteps, descending, as DDIMScheduler.set_timesteps.
std::vector<int> ddim_timesteps(const ScheduleConfig& c, int num_inference_steps);

// One sampling run's schedule: step index i (0 = noisiest) -> t, t_prev and their alpha-bars.
class DdimSchedule {
 public:
  DdimSchedule(const ScheduleConfig& c, int num_inference_steps);

  int steps() const { return (int)timesteps_.size(); }
  const ScheduleConfig& config() const { return config_; }
  const NoiseSchedule& noise() const { return noise_; }
  const std::vector<int>& timesteps() const { return timesteps_; }

  int timestep(int i) const { return timesteps_.at(check(i)); }
  // diffusers' rule: t_prev = t - num_train_timesteps // num_inference_steps (< 0: final alpha-bar).
  int prev_timestep(int i) const { return timestep(i) - step_ratio_; }
  double alpha_bar_t(int i) const { return noise_.alpha_bar(timestep(i)); }
  double alpha_bar_prev(int i) const { return noise_.alpha_bar(prev_timestep(i)); }

  // Fills the step's alpha-bars and prediction settings for per-sample step indices.
  void fill_step_args(const std::vector<int>& step_index, DdimStepArgs& a) const;

 private:
  int check(int i) const;  // throws std::out_of_range naming the valid range

  ScheduleConfig config_;
  NoiseSchedule noise_;
  std::vector<int> timesteps_;
  int step_ratio_ = 0;
};

}  // namespace cxrl
