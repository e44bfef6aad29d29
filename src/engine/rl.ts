/**
 * Typed access to the engine's RL kernels: the fused DDIM step with log-probability, its backward,
 * and PPO's clipped surrogate. `device` selects the CPU kernel (the reference) or the CUDA one.
 */
import { loadAddon } from './native';
import type { PredictionTypeName } from './scheduler';
import { UserError } from '../util/errors';

export type Device = 'cpu' | 'cuda';

export interface DdimStepInput {
  batch: number;
  perSample: number;
  sample: Float32Array;
  /** eps (or x0 / v by predictionType); with guidance, the conditional half. */
  modelOutput: Float32Array;
  /** With classifier-free guidance: the unconditional half. */
  modelOutputUncond?: Float32Array;
  guidanceScale?: number;
  /** One value for all samples or one per sample. */
  alphaBarT: number | ArrayLike<number>;
  alphaBarPrev: number | ArrayLike<number>;
  eta?: number;
  predictionType?: PredictionTypeName;
  clipSample?: boolean;
  clipSampleRange?: number;
  useClippedModelOutput?: boolean;
  /** Given x_prev (re-scoring a stored trajectory) ... */
  prevSample?: Float32Array;
  /** ... or given standard-normal noise ... */
  noise?: Float32Array;
  /** ... or Philox noise: sample b draws stream streamOffset + b of this seed. */
  seed?: number;
  streamOffset?: number;
}

export interface DdimStepOutput {
  prevSample: Float32Array;
  logProb: Float64Array;
}

export interface DdimStepGrads {
  gradModelOutput: Float32Array;
  gradModelOutputUncond?: Float32Array;
}

export interface PpoInput {
  logProb: Float64Array;
  oldLogProb: Float64Array;
  advantages: Float64Array;
  clipRange: number;
  advClipMax: number;
}

export interface PpoOutput {
  loss: number;
  approxKl: number;
  clipfrac: number;
  gradLogProb: Float64Array;
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

export function ddimStep(input: DdimStepInput, device: Device = 'cpu'): DdimStepOutput {
  return wrap(() => loadAddon().ddimStep(input, device));
}

/** d(sum_b gradLogProb[b] * logProb[b]) / d(model output); input.prevSample must be the step's x_prev. */
export function ddimStepBackward(input: DdimStepInput, gradLogProb: Float64Array, device: Device = 'cpu'): DdimStepGrads {
  if (!input.prevSample) throw new UserError('ddimStepBackward: prevSample (the x_prev of the step) is required');
  return wrap(() => loadAddon().ddimStepBackward(input, gradLogProb, device));
}

export function ppoLoss(input: PpoInput, device: Device = 'cpu'): PpoOutput {
  return wrap(() => loadAddon().ppoLoss(input, device));
}
