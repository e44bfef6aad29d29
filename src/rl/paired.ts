/**
 * Paired comparison of two models on the same reports and noise: the mean of the per-report
 * differences, its standard error (sample standard deviation / sqrt(n)) and t = mean / SE.
 */
export interface PairedComparison {
  n: number;
  policy: number;
  anchor: number;
  diff: number;
  se: number;
  t: number;
}

export function pairedComparison(policy: readonly number[], anchor: readonly number[]): PairedComparison {
  if (policy.length !== anchor.length)
    throw new Error('paired comparison needs as many anchor values as policy values');
  const n = policy.length;
  const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const d = policy.map((p, i) => p - anchor[i]);
  const md = mean(d);
  const sd = n > 1 ? Math.sqrt(d.reduce((a, x) => a + (x - md) ** 2, 0) / (n - 1)) : NaN;
  const se = sd / Math.sqrt(n);
  return {
    n,
    policy: mean(policy),
    anchor: mean(anchor),
    diff: md,
    se,
    t: se > 0 ? md / se : md === 0 ? 0 : Infinity * Math.sign(md),
  };
}
