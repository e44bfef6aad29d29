/**
 * DDIM scheduling with diffusers' scheduler_config.json names. The schedule itself (betas,
 * alpha-bars, timesteps) is computed by the engine; this class maps inference step indices to
 * (t, t_prev, alpha-bar_t, alpha-bar_prev).
 */
import { loadAddon } from './native';
import type { NativeScheduleArgs, PredictionTypeName } from './native-types';

export type { PredictionTypeName } from './native-types';
import { UserError } from '../util/errors';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  set_alpha_to_one: boolean;
  steps_offset: number;
  timestep_spacing: 'leading' | 'trailing' | 'linspace';
  prediction_type: PredictionTypeName;
  clip_sample: boolean;
  clip_sample_range: number;
}

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

function nativeArgs(c: SchedulerConfig): NativeScheduleArgs {
  return {
    numTrainTimesteps: c.num_train_timesteps,
    betaStart: c.beta_start,
    betaEnd: c.beta_end,
    betaSchedule: c.beta_schedule,
    setAlphaToOne: c.set_alpha_to_one,
    stepsOffset: c.steps_offset,
    timestepSpacing: c.timestep_spacing,
  };
}

/** Merges a (possibly partial) diffusers scheduler config over the defaults and checks it. */
export function schedulerConfig(partial: Partial<SchedulerConfig> = {}, source = 'scheduler config'): SchedulerConfig {
  const c = { ...DEFAULT_SCHEDULER, ...partial };
  if (!['linear', 'scaled_linear', 'squaredcos_cap_v2'].includes(c.beta_schedule))
    throw new UserError(
      `${source}: beta_schedule "${c.beta_schedule}" is not one of linear, scaled_linear, squaredcos_cap_v2`,
    );
  if (!['epsilon', 'sample', 'v_prediction'].includes(c.prediction_type))
    throw new UserError(
      `${source}: prediction_type "${c.prediction_type}" is not one of epsilon, sample, v_prediction`,
    );
  if (!Number.isInteger(c.num_train_timesteps) || c.num_train_timesteps < 2)
    throw new UserError(`${source}: num_train_timesteps must be an integer >= 2`);
  return c;
}

export class DdimScheduler {
  readonly config: SchedulerConfig;
  readonly alphasCumprod: Float64Array;
  readonly finalAlphaCumprod: number;
  readonly timesteps: Int32Array;
  readonly stepRatio: number;

  constructor(config: SchedulerConfig, numInferenceSteps: number) {
    this.config = config;
    const rl = loadAddon();
    let sched;
    try {
      sched = rl.noiseSchedule(nativeArgs(config));
      this.timesteps = rl.ddimTimesteps(nativeArgs(config), numInferenceSteps);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    this.alphasCumprod = sched.alphasCumprod;
    this.finalAlphaCumprod = sched.finalAlphaCumprod;
    this.stepRatio = Math.floor(config.num_train_timesteps / numInferenceSteps);
  }

  alphaBar(t: number): number {
    return t >= 0 ? this.alphasCumprod[t] : this.finalAlphaCumprod;
  }

  /** Timestep, previous timestep and their alpha-bars for inference step `i` (0 = noisiest). */
  step(i: number): { t: number; prevT: number; alphaBarT: number; alphaBarPrev: number } {
    const t = this.timesteps[i];
    const prevT = t - this.stepRatio;
    return { t, prevT, alphaBarT: this.alphaBar(t), alphaBarPrev: this.alphaBar(prevT) };
  }
}
