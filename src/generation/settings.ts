/**
 * Generation settings and their defaults, in one place: `generate`, the training sample grids, the
 * RL stage's evaluation and `eval` all read them from here.
 */
import { checkEta, checkGuidanceScale } from '../engine/guidance';
import { checkNumbers, NON_NEGATIVE_INTEGER, POSITIVE_INTEGER } from '../util/numeric-options';

export interface GenerationSettings {
  /** DDIM inference steps */
  steps: number;
  /** DDIM eta: 0 is deterministic given x_T */
  eta: number;
  /** classifier-free guidance scale (1: none) */
  guidanceScale: number;
  seed: number;
}

/** `generate`'s defaults. The eta default of sampling is 0; the RL stage's is 1 (it needs log-probs). */
export const GENERATION_DEFAULTS: GenerationSettings = { steps: 50, eta: 0, guidanceScale: 4, seed: 0 };

/** Training sample grids: the generation defaults with fewer steps, to keep the grids cheap. */
export const SAMPLE_GRID_SETTINGS: Omit<GenerationSettings, 'seed'> = { ...GENERATION_DEFAULTS, steps: 20 };

/** Checks every field (the flags are named as `generate` names them). */
export function checkGenerationSettings(g: GenerationSettings): GenerationSettings {
  checkNumbers({ ...g }, { steps: POSITIVE_INTEGER, seed: NON_NEGATIVE_INTEGER });
  checkEta(g.eta);
  checkGuidanceScale(g.guidanceScale);
  return g;
}
