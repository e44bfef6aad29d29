/**
 * The CXRL reward formulas (../shared/docs/CXRL-METHOD.md):
 * r_align = -(|s_x - 1| + |s_y - 1| + |t_x| + |t_y| + |theta|);
 * s_diag = mean over the report's known labels (positive/negative) of y log p + (1 - y) log(1 - p);
 * s_cons = cosine(F_visual(x), F_text(report)).
 */
import { NEGATIVE, POSITIVE } from '../data/labels';

export function rAlign(psi: ArrayLike<number>, offset = 0): number {
  return -(
    Math.abs(psi[offset] - 1) +
    Math.abs(psi[offset + 1] - 1) +
    Math.abs(psi[offset + 2]) +
    Math.abs(psi[offset + 3]) +
    Math.abs(psi[offset + 4])
  );
}

/** probs: CheXpert-ordered probabilities (NaN where the classifier has no such output); null when no label is usable. */
export function sDiag(probs: ArrayLike<number>, labels: Int8Array, eps = 1e-6): number | null {
  let s = 0,
    n = 0;
  for (let k = 0; k < labels.length; k++) {
    const y = labels[k];
    if ((y !== POSITIVE && y !== NEGATIVE) || Number.isNaN(probs[k])) continue;
    const p = Math.min(1 - eps, Math.max(eps, probs[k]));
    s += y === POSITIVE ? Math.log(p) : Math.log(1 - p);
    n++;
  }
  return n ? s / n : null;
}

export function cosine(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number): number {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < d; i++) {
    ab += a[ao + i] * b[bo + i];
    aa += a[ao + i] ** 2;
    bb += b[bo + i] ** 2;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}
