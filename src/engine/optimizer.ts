/** Helpers over the engine's optimizers. */
import type { NativeOptimizer } from './native';

/**
 * Gradient-norm clipping over several models at once: the joint norm is the hypot of the models'
 * norms; when it exceeds maxNorm (> 0), scaling each model's gradients to maxNorm * n_i / n scales
 * all of them by maxNorm / n. Returns the joint norm before clipping.
 */
export function clipJointGradNorm(opts: NativeOptimizer[], maxNorm: number): number {
  const norms = opts.map((op) => op.clipGradNorm(0));
  const norm = Math.hypot(...norms);
  if (maxNorm > 0 && norm > maxNorm) opts.forEach((op, k) => op.clipGradNorm((maxNorm * norms[k]) / norm));
  return norm;
}
