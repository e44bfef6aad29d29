/**
 * Classifier-free guidance in one place on the TypeScript side: whether a scale means guidance, the
 * checks of the guidance and eta flags, and the `[uncond; cond]` conditioning rows of the UNet pass
 * that the engine's sampling step and RL timestep run (the engine builds the matching sample rows,
 * native/rl/guided_step.h). The sampler draws trajectories with it; the RL stage re-scores stored
 * steps with the same rows, so both see exactly the same model outputs.
 */
import type { TensorData } from './tensor';
import { UserError } from '../util/errors';
import { checkNumber, NON_NEGATIVE } from '../util/numeric-options';

export interface Conditioning {
  /** [B, L, D] (or [1, L, D], broadcast to the batch) */
  context: TensorData;
  /** [B, L] or [1, L]; 1 = real token */
  mask: TensorData;
}

/** The one rule for "is this guided?": any scale other than 1 combines two model outputs. */
export function isGuided(guidanceScale: number): boolean {
  return guidanceScale !== 1;
}

/** A finite guidance scale >= 0 (0 is the unconditional model, 1 the conditional one). */
export function checkGuidanceScale(w: number, flag = '--guidance-scale'): number {
  return checkNumber(w, flag, NON_NEGATIVE);
}

/** DDIM's eta: finite, >= 0 (0 deterministic, 1 the DDPM posterior variance). */
export function checkEta(eta: number, flag = '--eta'): number {
  return checkNumber(eta, flag, NON_NEGATIVE);
}

/** Repeats a [1, ...] tensor along the batch, or checks a [B, ...] one. */
export function toBatch(t: TensorData, B: number, what: string): TensorData {
  if (t.shape[0] === B) return t;
  if (t.shape[0] !== 1) throw new UserError(`${what}: batch ${t.shape[0]} does not match ${B}`);
  const per = t.data.length;
  const data = new Float32Array(per * B);
  for (let b = 0; b < B; b++) data.set(t.data, b * per);
  return { data, shape: [B, ...t.shape.slice(1)] };
}

function concatBatch(a: TensorData, b: TensorData): TensorData {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data, 0);
  data.set(b.data, a.data.length);
  return { data, shape: [a.shape[0] + b.shape[0], ...a.shape.slice(1)] };
}

/**
 * The UNet's conditioning rows for B samples: `cond` alone, or, when guided, `uncond` (the empty
 * prompt, same token count) then `cond`, so the pass runs 2B rows with the unconditional half first
 * (the engine's sampling step and RL timestep take them so). Both are broadcast from batch 1 when
 * needed.
 */
export function guidedConditioning(
  batch: number,
  cond: Conditioning,
  uncond: Conditioning | null,
  guidanceScale: number,
): Conditioning {
  const ctx = toBatch(cond.context, batch, 'context'),
    mask = toBatch(cond.mask, batch, 'mask');
  if (!isGuided(guidanceScale)) return { context: ctx, mask };
  if (!uncond) throw new UserError('classifier-free guidance needs the unconditional embedding (the empty prompt)');
  const uctx = toBatch(uncond.context, batch, 'unconditional context'),
    umask = toBatch(uncond.mask, batch, 'unconditional mask');
  if (uctx.shape[1] !== ctx.shape[1])
    throw new UserError(`the unconditional embedding has ${uctx.shape[1]} tokens, the prompts ${ctx.shape[1]}`);
  return { context: concatBatch(uctx, ctx), mask: concatBatch(umask, mask) };
}
