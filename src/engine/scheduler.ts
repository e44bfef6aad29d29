/**
 * DDIM scheduling with diffusers' scheduler_config.json names. The engine's DdimSchedule
 * (native/rl/schedule.h) is the one owner of betas, set_timesteps, the previous-timestep rule,
 * alpha-bar lookups and their validation; this module merges a config over the defaults and hands
 * the engine's schedule to the sampler, which passes it to the fused step with a step index.
 */
import { loadAddon } from './native';
import { engineCall } from './native-errors';
import type { NativeDdimSchedule, SchedulerConfig } from './native-types';

export type { PredictionTypeName, SchedulerConfig } from './native-types';

/** Stable Diffusion v1.x's DDIM scheduler settings (RoentGen uses them). */
export const DEFAULT_SCHEDULER: SchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  set_alpha_to_one: false,
  steps_offset: 1,
  timestep_spacing: 'leading',
  prediction_type: 'epsilon',
  clip_sample: false,
  clip_sample_range: 1.0,
};

/** The engine's schedule for `steps` inference steps; errors name `source`. */
export function ddimSchedule(config: SchedulerConfig, steps: number, source = 'scheduler config'): NativeDdimSchedule {
  const { DdimSchedule } = loadAddon();
  return engineCall(() => new DdimSchedule(config, steps), source);
}

/** Merges a (possibly partial) diffusers scheduler config over the defaults; the engine checks it. */
export function schedulerConfig(partial: Partial<SchedulerConfig> = {}, source = 'scheduler config'): SchedulerConfig {
  const c = { ...DEFAULT_SCHEDULER, ...partial };
  ddimSchedule(c, 1, source);
  return c;
}
