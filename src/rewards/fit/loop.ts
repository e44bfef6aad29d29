/**
 * The minibatch loop shared by the reward-model fitters: seeded epoch permutations, AdamW on each
 * model, joint gradient-norm clipping, linear warm-up then cosine decay, a progress bar with loss.
 */
import { loadAddon, NativeOptimizer, NativeTrainable } from '../../engine/native';
import { clipJointGradNorm } from '../../engine/optimizer';
import { Progress } from '../../util/progress';
import { Rng } from '../../util/random';

export interface LoopOptions {
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  weightDecay?: number;
  maxGradNorm?: number;
  label: string;
  quiet?: boolean;
}

/** Runs `steps` optimizer steps; `step(indices, rng)` does forward + backward on a batch and returns its loss. */
export async function fitLoop(
  models: NativeTrainable[],
  n: number,
  o: LoopOptions,
  step: (indices: number[], rng: Rng) => number | Promise<number>,
): Promise<number[]> {
  const { Optimizer } = loadAddon();
  const opts: NativeOptimizer[] = models.map((m) => new Optimizer(m, { lr: o.lr, weightDecay: o.weightDecay ?? 1e-4 }));
  const rng = new Rng(o.seed);
  const bar = o.quiet ? null : new Progress(o.label, o.steps, 'steps');
  const warm = Math.max(1, Math.round(o.steps * 0.05));
  const losses: number[] = [];
  let order: number[] = [],
    pos = n;
  const B = Math.min(o.batchSize, n);
  for (let s = 0; s < o.steps; s++) {
    if (pos + B > n) {
      order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
      pos = 0;
    }
    const idx = order.slice(pos, pos + B);
    pos += B;
    for (const m of models) m.zeroGrad();
    const loss = await step(idx, rng);
    clipJointGradNorm(opts, o.maxGradNorm ?? 1);
    const lr =
      s < warm
        ? (o.lr * (s + 1)) / warm
        : 0.5 * o.lr * (1 + Math.cos((Math.PI * (s - warm)) / Math.max(1, o.steps - warm)));
    for (const op of opts) {
      op.setLr(lr);
      op.step();
    }
    losses.push(loss);
    const recent = losses.slice(-20);
    bar?.update(s + 1, `loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)}`);
  }
  return losses;
}

/** Rows `idx` of an [N, per] array, concatenated. */
export function gather(src: Float32Array, per: number, idx: number[]): Float32Array {
  const out = new Float32Array(idx.length * per);
  idx.forEach((i, k) => out.set(src.subarray(i * per, (i + 1) * per), k * per));
  return out;
}
