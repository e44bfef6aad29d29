/**
 * The guided UNet pass composed in TypeScript from the engine's plain forward and backward: the
 * reference the engine's sampling step and RL timestep are checked against (sampler.test.ts,
 * rl-objective.test.ts). The rows are [uncond; cond] with x_t twice, as the engine builds them.
 */
import { Conditioning, guidedConditioning, isGuided } from '../src/engine/guidance';
import type { NativeUNet } from '../src/engine/native';
import type { TensorData } from '../src/engine/tensor';

export class GuidedChain {
  readonly guided: boolean;
  private readonly conditioning: Conditioning;

  constructor(
    readonly unet: NativeUNet,
    readonly batch: number,
    cond: Conditioning,
    uncond: Conditioning | null,
    guidanceScale: number,
  ) {
    this.guided = isGuided(guidanceScale);
    this.conditioning = guidedConditioning(batch, cond, uncond, guidanceScale);
  }

  private get rows(): number {
    return this.guided ? 2 * this.batch : this.batch;
  }

  /** Model outputs at x (one timestep per sample, or one for all); forTraining keeps activations. */
  async predict(
    x: Float32Array,
    sampleShape: [number, number, number],
    timesteps: number | ArrayLike<number>,
    forTraining = false,
  ): Promise<{ cond: Float32Array; uncond?: Float32Array }> {
    const n = x.length,
      B = this.batch;
    const t = Float32Array.from({ length: this.rows }, (_, r) =>
      typeof timesteps === 'number' ? timesteps : timesteps[r % B],
    );
    const rows = new Float32Array(this.rows * (n / B));
    rows.set(x, 0);
    if (this.guided) rows.set(x, n);
    const eps = await this.unet.forwardAsync({
      sample: { data: rows, shape: [this.rows, ...sampleShape] },
      timestep: { data: t, shape: [this.rows] },
      encoderHiddenStates: this.conditioning.context,
      encoderAttentionMask: this.conditioning.mask,
      inference: !forTraining,
    });
    return this.guided ? { uncond: eps.data.subarray(0, n), cond: eps.data.subarray(n, 2 * n) } : { cond: eps.data };
  }

  /** Backward of the last predict(); returns d/d(context) of the conditional rows, [B, L, D]. */
  async backward(
    gradCond: Float32Array,
    gradUncond: Float32Array | undefined,
    sampleShape: [number, number, number],
  ): Promise<TensorData> {
    const n = gradCond.length,
      B = this.batch;
    const grad = new Float32Array(this.rows * (n / B));
    if (this.guided) {
      grad.set(gradUncond!, 0);
      grad.set(gradCond, n);
    } else grad.set(gradCond, 0);
    const g = await this.unet.backwardAsync({ data: grad, shape: [this.rows, ...sampleShape] });
    const per = g.encoderHiddenStates.data.length / this.rows;
    const from = this.guided ? B : 0;
    return {
      data: g.encoderHiddenStates.data.slice(from * per, (from + B) * per),
      shape: [B, ...g.encoderHiddenStates.shape.slice(1)],
    };
  }
}
