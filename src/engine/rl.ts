/**
 * Typed access to the engine's RL kernels: the fused DDIM step with log-probability, its backward,
 * and PPO's clipped surrogate. `device` selects the CPU kernel (the reference) or the CUDA one.
 */
import { loadAddon } from './native';
import type { DdimStepGrads, DdimStepInput, DdimStepOutput, Device, PpoInput, PpoOutput } from './native-types';
import { engineCall } from './native-errors';
import { UserError } from '../util/errors';

export type { DdimStepGrads, DdimStepInput, DdimStepOutput, Device, PpoInput, PpoOutput } from './native-types';

export function ddimStep(input: DdimStepInput, device: Device = 'cpu'): DdimStepOutput {
  return engineCall(() => loadAddon().ddimStep(input, device));
}

/** d(sum_b gradLogProb[b] * logProb[b]) / d(model output); input.prevSample must be the step's x_prev. */
export function ddimStepBackward(
  input: DdimStepInput,
  gradLogProb: Float64Array,
  device: Device = 'cpu',
): DdimStepGrads {
  if (!input.prevSample) throw new UserError('ddimStepBackward: prevSample (the x_prev of the step) is required');
  return engineCall(() => loadAddon().ddimStepBackward(input, gradLogProb, device));
}

export function ppoLoss(input: PpoInput, device: Device = 'cpu'): PpoOutput {
  return engineCall(() => loadAddon().ppoLoss(input, device));
}
