/**
 * Fréchet distance and kernel inception distance between two sets of feature vectors, in float64.
 * FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( sqrt( sqrt(S1) S2 sqrt(S1) ) ), with both matrix
 * square roots from symmetric eigendecompositions (the engine's Jacobi solver), so the result is
 * real and stable for rank-deficient covariances (N < feature dimension). Covariances use N - 1
 * (as numpy.cov, which the reference implementations use).
 * KID = unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets
 * (as clean-fid computes it), with the standard error over the subsets.
 */
import { loadAddon } from '../engine/native';
import { Rng } from '../util/random';

export interface FeatureStats {
  n: number;
  dim: number;
  mean: Float64Array;
  /** dim x dim, row-major */
  cov: Float64Array;
}

export function featureStats(features: ArrayLike<number>, n: number, dim: number): FeatureStats {
  if (features.length !== n * dim) throw new Error(`featureStats: ${features.length} values are not ${n} x ${dim}`);
  if (n < 2) throw new Error('featureStats: need at least 2 feature vectors');
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) row[j] = features[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b = a; b < dim; b++) cov[a * dim + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) for (let b = a; b < dim; b++) cov[b * dim + a] = cov[a * dim + b] /= n - 1;
  return { n, dim, mean, cov };
}

/** sqrt of a symmetric positive semi-definite matrix (negative rounding-level eigenvalues -> 0). */
export function sqrtPsd(m: Float64Array, dim: number): Float64Array {
  const { values, vectors } = loadAddon().symmetricEigen(m, dim);
  const out = new Float64Array(dim * dim);
  for (let k = 0; k < dim; k++) {
    const s = Math.sqrt(Math.max(values[k], 0));
    if (s === 0) continue;
    for (let i = 0; i < dim; i++) {
      const vi = vectors[i * dim + k] * s;
      for (let j = 0; j < dim; j++) out[i * dim + j] += vi * vectors[j * dim + k];
    }
  }
  return out;
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  return out;
}

export function frechetDistance(s1: FeatureStats, s2: FeatureStats): number {
  if (s1.dim !== s2.dim) throw new Error(`frechetDistance: features of dimension ${s1.dim} and ${s2.dim}`);
  const d = s1.dim;
  let meanTerm = 0,
    trace = 0;
  for (let j = 0; j < d; j++) {
    meanTerm += (s1.mean[j] - s2.mean[j]) ** 2;
    trace += s1.cov[j * d + j] + s2.cov[j * d + j];
  }
  const r1 = sqrtPsd(s1.cov, d);
  const inner = matmul(matmul(r1, s2.cov, d), r1, d);
  const { values } = loadAddon().symmetricEigen(inner, d);
  let trSqrt = 0;
  for (const v of values) trSqrt += Math.sqrt(Math.max(v, 0));
  return meanTerm + trace - 2 * trSqrt;
}

export interface KidResult {
  mean: number;
  se: number;
  subsets: number;
  subsetSize: number;
}

/** Unbiased MMD^2 of two equal-size sets under the cubic polynomial kernel. */
function mmd2(x: ArrayLike<number>, xi: number[], y: ArrayLike<number>, yi: number[], d: number): number {
  const k = (a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += a[i * d + t] * b[j * d + t];
    return (s / d + 1) ** 3;
  };
  const m = xi.length;
  let kxx = 0,
    kyy = 0,
    kxy = 0;
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < m; b++) {
      if (a !== b) {
        kxx += k(x, xi[a], x, xi[b]);
        kyy += k(y, yi[a], y, yi[b]);
      }
      kxy += k(x, xi[a], y, yi[b]);
    }
  }
  return kxx / (m * (m - 1)) + kyy / (m * (m - 1)) - (2 * kxy) / (m * m);
}

export function kernelInceptionDistance(
  f1: ArrayLike<number>,
  n1: number,
  f2: ArrayLike<number>,
  n2: number,
  dim: number,
  o: { subsets?: number; subsetSize?: number; seed?: number } = {},
): KidResult {
  const m = Math.min(o.subsetSize ?? 1000, n1, n2);
  if (m < 2) throw new Error('KID needs at least 2 feature vectors in each set');
  const subsets = o.subsets ?? 100;
  const rng = new Rng(o.seed ?? 0);
  const pick = (n: number) => rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, m);
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) values.push(mmd2(f1, pick(n1), f2, pick(n2), dim));
  const mean = values.reduce((a, b) => a + b, 0) / subsets;
  const sd = subsets > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (subsets - 1)) : NaN;
  return { mean, se: sd / Math.sqrt(subsets), subsets, subsetSize: m };
}
