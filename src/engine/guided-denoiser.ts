/**
 * Classifier-free guidance around the UNet, in one place: whether a scale means guidance, the
 * `[uncond; cond]` batch layout of one forward pass, and (for training) the split of the gradient
 * back to both halves. The sampler uses it to draw trajectories; the RL stage uses it again to
 * re-score stored steps with gradients, so both see exactly the same model outputs.
 */
import type { NativeUNet } from './native';
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

/** The model outputs of one guided (or plain) forward pass, each [B, C, H, W] flat. */
export interface GuidedOutput {
  cond: Float32Array;
  /** present when guided */
  uncond?: Float32Array;
}

export class GuidedDenoiser {
  readonly guided: boolean;
  private readonly context: TensorData;
  private readonly mask: TensorData;

  /**
   * `cond` for B samples; `uncond` (the empty prompt, same token count) when guided. Both are
   * broadcast from batch 1 when needed. The pass runs 2B rows: the unconditional half first.
   */
  constructor(
    readonly unet: NativeUNet,
    readonly batch: number,
    cond: Conditioning,
    uncond: Conditioning | null,
    readonly guidanceScale: number,
  ) {
    this.guided = isGuided(guidanceScale);
    if (this.guided && !uncond)
      throw new UserError('classifier-free guidance needs the unconditional embedding (the empty prompt)');
    const ctx = toBatch(cond.context, batch, 'context'),
      mask = toBatch(cond.mask, batch, 'mask');
    if (this.guided) {
      const uctx = toBatch(uncond!.context, batch, 'unconditional context'),
        umask = toBatch(uncond!.mask, batch, 'unconditional mask');
      if (uctx.shape[1] !== ctx.shape[1])
        throw new UserError(`the unconditional embedding has ${uctx.shape[1]} tokens, the prompts ${ctx.shape[1]}`);
      this.context = concatBatch(uctx, ctx);
      this.mask = concatBatch(umask, mask);
    } else {
      this.context = ctx;
      this.mask = mask;
    }
  }

  /** The UNet's conditioning rows (unconditional half first when guided). */
  get unetConditioning(): Conditioning {
    return { context: this.context, mask: this.mask };
  }

  /** Rows of the UNet batch: 2B when guided. */
  get rows(): number {
    return this.guided ? 2 * this.batch : this.batch;
  }

  /**
   * Model outputs at x ([B, C, H, W] flat) and one timestep per sample (or one for all).
   * `forTraining`: keep the activations for backward() (re-scoring with gradients); sampling
   * runs the UNet in inference mode.
   */
  async predict(
    x: Float32Array,
    sampleShape: [number, number, number],
    timesteps: number | ArrayLike<number>,
    forTraining = false,
  ): Promise<GuidedOutput> {
    const B = this.batch,
      n = x.length;
    const shape = [B, ...sampleShape];
    if (n !== B * sampleShape[0] * sampleShape[1] * sampleShape[2])
      throw new UserError(`sample of ${n} values does not fill [${shape}]`);
    const t = new Float32Array(this.rows);
    for (let r = 0; r < this.rows; r++) t[r] = typeof timesteps === 'number' ? timesteps : timesteps[r % B];
    const sample = this.guided ? concatBatch({ data: x, shape }, { data: x, shape }) : { data: x, shape };
    const eps = await this.unet.forwardAsync({
      sample,
      timestep: { data: t, shape: [this.rows] },
      encoderHiddenStates: this.context,
      encoderAttentionMask: this.mask,
      inference: !forTraining,
    });
    return this.guided ? { uncond: eps.data.subarray(0, n), cond: eps.data.subarray(n, 2 * n) } : { cond: eps.data };
  }

  /**
   * Backward of the last predict(): the gradients w.r.t. the two halves' outputs go back through
   * the UNet (parameter gradients accumulate). Returns d/d(context) of the conditional rows,
   * [B, L, D], which holds the gradient of any appended learnable tokens.
   */
  async backward(
    gradCond: Float32Array,
    gradUncond: Float32Array | undefined,
    sampleShape: [number, number, number],
  ): Promise<TensorData> {
    const B = this.batch,
      n = gradCond.length;
    let grad: Float32Array;
    if (this.guided) {
      if (!gradUncond) throw new Error('guided backward needs the gradient of the unconditional half');
      grad = new Float32Array(2 * n);
      grad.set(gradUncond, 0);
      grad.set(gradCond, n);
    } else grad = gradCond;
    const g = await this.unet.backwardAsync({ data: grad, shape: [this.rows, ...sampleShape] });
    const ctx = g.encoderHiddenStates;
    const per = ctx.data.length / this.rows;
    const rowsFrom = this.guided ? B : 0;
    return { data: ctx.data.slice(rowsFrom * per, (rowsFrom + B) * per), shape: [B, ...ctx.shape.slice(1)] };
  }
}
