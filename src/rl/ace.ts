/**
 * Adaptive condition embeddings (ACE): K learnable tokens [K, D] appended after the prompt tokens
 * of the policy's condition (CXRL-METHOD.md, "Actors"). Their gradient is the slice of the UNet's
 * d/d(encoder_hidden_states) at the appended positions of the conditional rows, summed over the
 * batch; they are updated here with Adam (no weight decay) at their own learning rate.
 * Saved as ace.safetensors (`ace_tokens`, read by `generate`) and ace_optimizer.safetensors.
 */
import type { TensorData } from '../engine/tensor';
import { readScalar, readSafetensors, requireTensor, writeSafetensors } from '../io/safetensors';
import { UserError } from '../util/errors';
import { Rng } from '../util/random';

export const ACE_INIT_STD = 0.02;
export const ACE_FILE = 'ace.safetensors';
export const ACE_OPTIMIZER_FILE = 'ace_optimizer.safetensors';

export class AceTokens {
  readonly grad: Float64Array;
  // Adam moments, kept in float32 (as the engine's optimizer keeps them) so a checkpoint holds them exactly.
  private m: Float32Array;
  private v: Float32Array;
  private steps = 0;

  constructor(
    readonly count: number,
    readonly width: number,
    readonly tokens: Float32Array,
  ) {
    if (tokens.length !== count * width) throw new Error(`ACE: ${tokens.length} values for [${count}, ${width}]`);
    this.grad = new Float64Array(tokens.length);
    this.m = new Float32Array(tokens.length);
    this.v = new Float32Array(tokens.length);
  }

  /** N(0, 0.02^2) tokens from the seed. */
  static init(count: number, width: number, seed: number): AceTokens {
    return new AceTokens(count, width, new Rng(seed).normals(count * width, ACE_INIT_STD));
  }

  zeroGrad(): void {
    this.grad.fill(0);
  }

  /**
   * Adds the gradient of the appended tokens from d/d(context) [B, L + K, D] of the conditional
   * rows (the last K positions of every row), scaled by `scale`.
   */
  accumulateFromContextGrad(gradContext: TensorData, scale = 1): void {
    const [B, LK, D] = gradContext.shape;
    const K = this.count;
    if (D !== this.width || LK < K)
      throw new Error(
        `ACE gradient: context gradient [${gradContext.shape}] does not hold ${K} tokens of width ${this.width}`,
      );
    for (let b = 0; b < B; b++) {
      const base = (b * LK + LK - K) * D;
      for (let i = 0; i < K * D; i++) this.grad[i] += scale * gradContext.data[base + i];
    }
  }

  gradNorm(): number {
    let s = 0;
    for (const g of this.grad) s += g * g;
    return Math.sqrt(s);
  }

  scaleGrad(f: number): void {
    for (let i = 0; i < this.grad.length; i++) this.grad[i] *= f;
  }

  norm(): number {
    let s = 0;
    for (const x of this.tokens) s += x * x;
    return Math.sqrt(s);
  }

  /** One Adam step (beta 0.9/0.999, eps 1e-8, bias-corrected) with the accumulated gradient. */
  adamStep(lr: number, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): void {
    this.steps++;
    const c1 = 1 - beta1 ** this.steps,
      c2 = 1 - beta2 ** this.steps;
    for (let i = 0; i < this.tokens.length; i++) {
      const g = this.grad[i];
      this.m[i] = beta1 * this.m[i] + (1 - beta1) * g;
      this.v[i] = beta2 * this.v[i] + (1 - beta2) * g * g;
      this.tokens[i] -= (lr * (this.m[i] / c1)) / (Math.sqrt(this.v[i] / c2) + eps);
    }
  }

  save(tokensFile: string, optimizerFile: string): void {
    writeSafetensors(
      tokensFile,
      { ace_tokens: { data: this.tokens, shape: [this.count, this.width] } },
      { format: 'cxrl-ace' },
    );
    const shape = [this.count, this.width];
    writeSafetensors(optimizerFile, {
      m: { data: this.m, shape },
      v: { data: this.v, shape },
      steps: { data: Float32Array.of(this.steps), shape: [1] },
    });
  }

  static load(tokensFile: string, optimizerFile: string): AceTokens {
    const t = requireTensor(readSafetensors(tokensFile), 'ace_tokens', tokensFile);
    const ace = new AceTokens(t.shape[0], t.shape[1], Float32Array.from(t.data));
    const o = readSafetensors(optimizerFile);
    const moment = (name: string) => {
      const x = requireTensor(o, name, optimizerFile);
      if (x.data.length !== ace.tokens.length)
        throw new UserError(
          `${optimizerFile}: "${name}" has ${x.data.length} values, the ACE tokens ${ace.tokens.length}`,
        );
      return Float32Array.from(x.data);
    };
    ace.m = moment('m');
    ace.v = moment('v');
    ace.steps = readScalar(o, 'steps', optimizerFile);
    return ace;
  }
}
