/**
 * The paper's five numbers for one model's images (CXRL-METHOD.md, "Evaluation"), each with a
 * bootstrap interval over reports: posture (mean r_align), classification AUROC (the classifier on
 * generated images against each report's labels, per label and macro over labels with both
 * classes), consistency (mean s_cons), FID and KID against real images of the split, and MS-SSIM
 * diversity (mean over the pairs of images made for the same report).
 */
import { CHEXPERT_LABELS, NEGATIVE, POSITIVE } from '../data/labels';
import { auroc } from '../rewards/metrics';
import { bootstrapInterval, Interval } from './bootstrap';
import { featureStats, frechetDistance, kernelInceptionDistance, KidResult } from './fid';
import { msssim } from './ssim';

export const METRICS = ['posture', 'auroc', 'consistency', 'fid', 'kid', 'msssim'] as const;
export type Metric = (typeof METRICS)[number];

/** Which direction is better, for the table's arrows. */
export const HIGHER_IS_BETTER: Record<Metric, boolean> = {
  posture: true,
  auroc: true,
  consistency: true,
  fid: false,
  kid: false,
  msssim: false,
};

export interface MetricValue {
  value: number | null;
  interval: Interval | null;
  /** why a value is missing, or how it was computed when that matters */
  note?: string;
  se?: number;
}

/** One model's images: k per report, report-major (image r*k + j belongs to report r). */
export interface ModelImages {
  reports: number;
  perReport: number;
  size: number;
  /** [reports * k, size * size] bytes */
  pixels: Uint8Array[];
  rAlign: (number | null)[] | null;
  sCons: (number | null)[] | null;
  /** per image, CheXpert order */
  probabilities: number[][] | null;
  /** per image, [dim] */
  features: Float32Array | null;
  featureDim: number;
}

function meanOf(v: number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

function perReportMean(values: (number | null)[], k: number, r: number): number | null {
  const v = values.slice(r * k, (r + 1) * k).filter((x): x is number => x !== null);
  return v.length ? meanOf(v) : null;
}

function reportMeanMetric(values: (number | null)[] | null, m: ModelImages, boot: number, seed: number): MetricValue {
  if (!values) return { value: null, interval: null, note: 'no model for it' };
  const per = Array.from({ length: m.reports }, (_, r) => perReportMean(values, m.perReport, r));
  const stat = (idx: number[]) => meanOf(idx.map((r) => per[r]).filter((x): x is number => x !== null));
  return { value: stat(per.map((_, r) => r)), interval: bootstrapInterval(m.reports, stat, boot, seed) };
}

/** Macro AUROC over labels with both classes among the chosen reports' images. */
export function macroAuroc(
  probs: number[][],
  labels: Int8Array[],
  k: number,
  reports: number[],
): { macro: number; byLabel: Record<string, number | null> } {
  const byLabel: Record<string, number | null> = {};
  const vals: number[] = [];
  CHEXPERT_LABELS.forEach((name, c) => {
    const s: number[] = [],
      pos: boolean[] = [];
    for (const r of reports) {
      const y = labels[r][c];
      if (y !== POSITIVE && y !== NEGATIVE) continue;
      for (let j = 0; j < k; j++) {
        const p = probs[r * k + j][c];
        if (Number.isNaN(p)) continue;
        s.push(p);
        pos.push(y === POSITIVE);
      }
    }
    const a = s.length ? auroc(s, pos) : NaN;
    byLabel[name] = Number.isNaN(a) ? null : a;
    if (!Number.isNaN(a)) vals.push(a);
  });
  return { macro: meanOf(vals), byLabel };
}

export interface RealFeatures {
  features: Float32Array;
  n: number;
  dim: number;
}

export function computeMetrics(
  m: ModelImages,
  labels: Int8Array[],
  real: RealFeatures | null,
  which: Set<Metric>,
  boot: number,
  seed: number,
): Partial<Record<Metric, MetricValue>> & { aurocByLabel?: Record<string, number | null> } {
  const out: Partial<Record<Metric, MetricValue>> & { aurocByLabel?: Record<string, number | null> } = {};
  const all = Array.from({ length: m.reports }, (_, r) => r);
  if (which.has('posture')) out.posture = reportMeanMetric(m.rAlign, m, boot, seed + 1);
  if (which.has('consistency')) out.consistency = reportMeanMetric(m.sCons, m, boot, seed + 2);
  if (which.has('auroc')) {
    if (!m.probabilities) out.auroc = { value: null, interval: null, note: 'no classifier model' };
    else {
      const a = macroAuroc(m.probabilities, labels, m.perReport, all);
      out.aurocByLabel = a.byLabel;
      const stat = (idx: number[]) => macroAuroc(m.probabilities!, labels, m.perReport, idx).macro;
      out.auroc = {
        value: Number.isNaN(a.macro) ? null : a.macro,
        interval: bootstrapInterval(m.reports, stat, boot, seed + 3),
        note: `macro over ${Object.values(a.byLabel).filter((v) => v !== null).length} labels with both classes`,
      };
    }
  }
  if (which.has('msssim')) {
    if (m.perReport < 2) out.msssim = { value: null, interval: null, note: 'needs --n-per-report 2 or more' };
    else {
      const per = all.map((r) => {
        const v: number[] = [];
        for (let a = 0; a < m.perReport; a++)
          for (let b = a + 1; b < m.perReport; b++)
            v.push(msssim(m.pixels[r * m.perReport + a], m.pixels[r * m.perReport + b], m.size, m.size));
        return meanOf(v);
      });
      const stat = (idx: number[]) => meanOf(idx.map((r) => per[r]));
      out.msssim = { value: stat(all), interval: bootstrapInterval(m.reports, stat, boot, seed + 4) };
    }
  }
  if ((which.has('fid') || which.has('kid')) && (!m.features || !real)) {
    const miss = { value: null, interval: null, note: 'no features model or no real images' };
    if (which.has('fid')) out.fid = miss;
    if (which.has('kid')) out.kid = miss;
  } else if (which.has('fid') || which.has('kid')) {
    const d = m.featureDim,
      n = m.reports * m.perReport;
    const realStats = featureStats(real!.features, real!.n, d);
    const rows = (idx: number[]) => {
      const f = new Float32Array(idx.length * m.perReport * d);
      idx.forEach((r, i) =>
        f.set(m.features!.subarray(r * m.perReport * d, (r + 1) * m.perReport * d), i * m.perReport * d),
      );
      return f;
    };
    if (which.has('fid')) {
      const fid = (idx: number[]) => frechetDistance(featureStats(rows(idx), idx.length * m.perReport, d), realStats);
      // Bootstrap replicates repeat images, which shrinks the covariance's rank and raises FID: the
      // interval shows the spread of the estimate, shifted upwards, not an interval around it.
      const note =
        (n < d
          ? `only ${n} generated images for ${d} feature dimensions: the covariance is rank-deficient and FID is biased upwards; `
          : '') + 'the bootstrap interval is shifted upwards (replicates repeat images) and shows spread only';
      // Each replicate costs two d x d eigendecompositions; beyond 256 dimensions the interval is left out.
      out.fid = {
        value: fid(all),
        interval: d <= 256 ? bootstrapInterval(m.reports, fid, Math.min(boot, 200), seed + 5) : null,
        note,
      };
    }
    if (which.has('kid')) {
      const k: KidResult = kernelInceptionDistance(m.features!, n, real!.features, real!.n, d, { seed: seed + 6 });
      out.kid = { value: k.mean, interval: null, se: k.se, note: `${k.subsets} subsets of ${k.subsetSize}` };
    }
  }
  return out;
}

/** FID and KID of two disjoint halves of the real images: the floor a perfect generator would reach at this N. */
export function realFloor(real: RealFeatures, seed: number): { fid: number; kid: KidResult; n: number } {
  const half = Math.floor(real.n / 2),
    d = real.dim;
  const a = real.features.subarray(0, half * d),
    b = real.features.subarray(half * d, 2 * half * d);
  return {
    fid: frechetDistance(featureStats(a, half, d), featureStats(b, half, d)),
    kid: kernelInceptionDistance(a, half, b, half, d, { seed }),
    n: half,
  };
}
