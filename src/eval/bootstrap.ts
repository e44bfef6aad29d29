/**
 * Percentile bootstrap over reports: the statistic is recomputed on reports drawn with replacement
 * (seeded), and the 2.5th and 97.5th percentiles of the replicates form the 95% interval.
 */
import { Rng } from '../util/random';

export interface Interval {
  lo: number;
  hi: number;
  replicates: number;
}

export function bootstrapInterval(
  nReports: number,
  statistic: (reports: number[]) => number,
  replicates: number,
  seed: number,
): Interval | null {
  if (replicates < 1 || nReports < 2) return null;
  const rng = new Rng(seed);
  const values: number[] = [];
  for (let r = 0; r < replicates; r++) {
    const pick = Array.from({ length: nReports }, () => rng.int(0, nReports - 1));
    const v = statistic(pick);
    if (Number.isFinite(v)) values.push(v);
  }
  if (values.length < 2) return null;
  values.sort((a, b) => a - b);
  const q = (p: number) => {
    const x = p * (values.length - 1),
      i = Math.floor(x),
      f = x - i;
    return i + 1 < values.length ? values[i] * (1 - f) + values[i + 1] * f : values[i];
  };
  return { lo: q(0.025), hi: q(0.975), replicates: values.length };
}
