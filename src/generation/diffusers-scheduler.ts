/**
 * A diffusers scheduler_config.json read for the DDIM sampler. Every key is in one of three groups,
 * and any other key is refused by name: used (the DDIM schedule's settings), accepted only at the
 * value that leaves DDIM's arithmetic unchanged, or ignored with the reason below. A pipeline's
 * own scheduler class (PNDM for SD v1.x, say) only decides which sampler diffusers runs; this
 * toolkit always samples with DDIM from the same betas, as the RL stage's log-probabilities need.
 */
import * as fs from 'fs';
import { DEFAULT_SCHEDULER, SchedulerConfig, schedulerConfig } from '../engine/scheduler';
import { readJson } from '../train/checkpoint';
import { UserError } from '../util/errors';

/** Keys that change the schedule or the step in ways the engine does not implement, with the value it accepts. */
const FIXED: Record<string, unknown> = {
  trained_betas: null,
  thresholding: false,
  rescale_betas_zero_snr: false,
};

/** Keys that do not affect DDIM sampling from these betas, and why. */
export const IGNORED_SCHEDULER_KEYS: Record<string, string> = {
  skip_prk_steps: "PNDM's Runge-Kutta warm-up switch; sampling here is DDIM",
  variance_type: "DDPM's posterior variance choice; DDIM's noise is set by eta",
  dynamic_thresholding_ratio: 'only used with thresholding (refused unless false)',
  sample_max_value: 'only used with thresholding (refused unless false)',
  solver_order: 'a multistep (DPM-Solver/UniPC) setting; sampling here is DDIM',
  solver_type: 'a multistep (DPM-Solver/UniPC) setting; sampling here is DDIM',
  algorithm_type: 'a multistep (DPM-Solver/UniPC) setting; sampling here is DDIM',
  lower_order_final: 'a multistep (DPM-Solver/UniPC) setting; sampling here is DDIM',
  use_karras_sigmas: 'a sigma-spacing option of Euler/DPM samplers; sampling here is DDIM',
  interpolation_type: 'a sigma-interpolation option of Euler samplers; sampling here is DDIM',
};

/** The DDIM settings of a diffusers scheduler_config.json (the defaults when the file is absent). */
export function readDiffusersScheduler(file: string): SchedulerConfig {
  if (!fs.existsSync(file)) return schedulerConfig();
  const raw = readJson<Record<string, unknown>>(file);
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('_')) continue; // _class_name, _diffusers_version
    if (key in DEFAULT_SCHEDULER) {
      if (value !== null) picked[key] = value;
    } else if (key in FIXED) {
      if (value !== null && value !== FIXED[key])
        throw new UserError(`${file}: "${key}" = ${JSON.stringify(value)} is not supported (only ${FIXED[key]})`);
    } else if (!(key in IGNORED_SCHEDULER_KEYS)) {
      throw new UserError(`${file}: "${key}" is not a scheduler config key this toolkit knows; refusing to ignore it`);
    }
  }
  return schedulerConfig(picked as Partial<SchedulerConfig>, file);
}
