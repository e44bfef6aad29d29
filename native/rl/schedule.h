// Noise schedules and DDIM timestep spacing as diffusers' DDPMScheduler/DDIMScheduler define them.
#pragma once
#include <string>
#include <vector>

namespace cxrl {

struct ScheduleConfig {
  int num_train_timesteps = 1000;
  double beta_start = 0.00085, beta_end = 0.012;  // Stable Diffusion's values
  std::string beta_schedule = "scaled_linear";    // linear | scaled_linear | squaredcos_cap_v2
  bool set_alpha_to_one = false;                  // SD's scheduler config uses false
  int steps_offset = 1;
  std::string timestep_spacing = "leading";  // leading | trailing | linspace
};

struct NoiseSchedule {
  std::vector<double> betas, alphas_cumprod;
  double final_alpha_cumprod = 1.0;  // alpha-bar used when the previous timestep is < 0
  int num_train_timesteps = 0;

  double alpha_bar(int t) const { return t >= 0 ? alphas_cumprod.at(t) : final_alpha_cumprod; }
};

NoiseSchedule make_noise_schedule(const ScheduleConfig& c);  // throws on an unknown schedule

// Inference timesteps, descending, as DDIMScheduler.set_timesteps. The previous timestep of t is
// t - num_train_timesteps / num_inference_steps (a negative value means "final alpha").
std::vector<int> ddim_timesteps(const ScheduleConfig& c, int num_inference_steps);

}  // namespace cxrl
