/** Helpers over the engine's optimizers. */
import type { NativeOptimizer } from './native';

/** Gradients held outside the engine (the RL stage's ACE tokens): measured and scaled in place. */
export interface ScalableGradient {
  gradNorm(): number;
  scaleGrad(factor: number): void;
}

/**
 * Gradient-norm clipping over several models at once: the joint norm is the hypot of the parts'
 * norms; when it exceeds maxNorm (> 0), every part is scaled by maxNorm / n (an engine optimizer's
 * model by clipping it to maxNorm * n_i / n). Returns the joint norm before clipping.
 */
export function clipJointGradNorm(parts: (NativeOptimizer | ScalableGradient)[], maxNorm: number): number {
  const norms = parts.map((p) => ('clipGradNorm' in p ? p.clipGradNorm(0) : p.gradNorm()));
  const norm = Math.hypot(...norms);
  if (maxNorm > 0 && norm > maxNorm) {
    parts.forEach((p, k) =>
      'clipGradNorm' in p ? p.clipGradNorm((maxNorm * norms[k]) / norm) : p.scaleGrad(maxNorm / norm),
    );
  }
  return norm;
}
