/**
 * The evaluation's human-readable outputs: a Markdown table in the paper's column order (one row
 * per model, arrows for the better direction, 95% bootstrap intervals) and one bar chart per metric
 * as SVG (rendered to PNG by sharp; no browser needed).
 */
import type { Interval } from './bootstrap';
import type { KidResult } from './fid';
import { HIGHER_IS_BETTER, Metric, MetricValue } from './generated-metrics';
import type { GenerationSettings } from '../generation/settings';
import { escapeXml } from '../plot/svg-chart';
import { fixedOrNa as fmt } from '../util/format';

/** The paper's Table 1 order, then KID. */
const COLUMN_ORDER: Metric[] = ['posture', 'auroc', 'consistency', 'fid', 'msssim', 'kid'];
const TITLES: Record<Metric, string> = {
  posture: 'posture r_align',
  auroc: 'classification AUROC',
  consistency: 'consistency s_cons',
  fid: 'FID',
  msssim: 'MS-SSIM',
  kid: 'KID',
};

function cell(m: MetricValue | undefined): string {
  if (!m || m.value === null) return m?.note ? `n/a (${m.note})` : 'n/a';
  const digits = Math.abs(m.value) >= 100 ? 1 : Math.abs(m.value) < 0.1 ? 4 : 3;
  if (m.interval) return `${fmt(m.value, digits)} [${fmt(m.interval.lo, digits)}, ${fmt(m.interval.hi, digits)}]`;
  if (m.se !== undefined) return `${fmt(m.value, digits)} ± ${fmt(m.se, digits)}`;
  return fmt(m.value, digits);
}

export function markdownTable(
  rows: { name: string; metrics: Partial<Record<Metric, MetricValue>>; seconds: number }[],
  metrics: Metric[],
  floor: { fid: number; kid: KidResult; n: number } | null,
  o: { split: string; reports: number; perReport: number; generation: GenerationSettings },
): string {
  const cols = COLUMN_ORDER.filter((m) => metrics.includes(m));
  const head = `| model | ${cols.map((m) => `${TITLES[m]} ${HIGHER_IS_BETTER[m] ? '↑' : '↓'}`).join(' | ')} | seconds |`;
  const lines = [head, `|---|${cols.map(() => '---').join('|')}|---|`];
  for (const r of rows)
    lines.push(`| ${r.name} | ${cols.map((m) => cell(r.metrics[m])).join(' | ')} | ${r.seconds.toFixed(0)} |`);
  if (floor) {
    lines.push(
      `| real vs real (two halves of ${floor.n}) | ${cols.map((m) => (m === 'fid' ? fmt(floor.fid) : m === 'kid' ? `${fmt(floor.kid.mean, 4)} ± ${fmt(floor.kid.se, 4)}` : '')).join(' | ')} | |`,
    );
  }
  const notes = rows.flatMap((r) =>
    cols.flatMap((m) =>
      r.metrics[m]?.note && r.metrics[m]?.value !== null ? [`${r.name} ${TITLES[m]}: ${r.metrics[m]!.note}`] : [],
    ),
  );
  const g = o.generation;
  return [
    lines.join('\n'),
    '',
    `${o.reports} reports of the ${o.split} split, ${o.perReport} images each; DDIM ${g.steps} steps, eta ${g.eta}, guidance ${g.guidanceScale}, seed ${g.seed}. ` +
      'Brackets: 95% bootstrap interval over reports; ± for KID: standard error over subsets.',
    ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}

/** One bar per model with its interval as a whisker; a dashed line for the real-vs-real floor. */
export function barChartSvg(
  metric: Metric,
  bars: { name: string; value: number | null; interval: Interval | null }[],
  floor: number | null,
): string {
  const W = 120 + 90 * bars.length,
    H = 300,
    top = 40,
    bottom = 60,
    left = 60,
    plotH = H - top - bottom;
  const vals = bars
    .flatMap((b) => [b.value, b.interval?.lo, b.interval?.hi])
    .concat(floor)
    .filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
  let lo = Math.min(0, ...vals),
    hi = Math.max(0, ...vals);
  if (hi === lo) hi = lo + 1;
  const pad = (hi - lo) * 0.1;
  lo = lo < 0 ? lo - pad : lo;
  hi += pad;
  const y = (v: number) => top + plotH * (1 - (v - lo) / (hi - lo));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(TITLES[metric])} (${HIGHER_IS_BETTER[metric] ? 'higher' : 'lower'} is better)</text>`,
    `<line x1="${left}" y1="${y(0)}" x2="${W - 20}" y2="${y(0)}" stroke="#444"/>`,
  ];
  for (const t of [lo, (lo + hi) / 2, hi])
    parts.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${fmt(t, Math.abs(t) >= 100 ? 0 : 3)}</text>`);
  bars.forEach((b, i) => {
    const x = left + 20 + i * 90;
    if (b.value !== null && Number.isFinite(b.value)) {
      parts.push(
        `<rect x="${x}" y="${Math.min(y(b.value), y(0))}" width="50" height="${Math.abs(y(b.value) - y(0))}" fill="#4a7ab5"/>`,
      );
      parts.push(
        `<text x="${x + 25}" y="${Math.min(y(b.value), y(0)) - 4}" text-anchor="middle">${fmt(b.value, Math.abs(b.value) >= 100 ? 1 : 3)}</text>`,
      );
      if (b.interval)
        parts.push(
          `<line x1="${x + 25}" y1="${y(b.interval.lo)}" x2="${x + 25}" y2="${y(b.interval.hi)}" stroke="#111" stroke-width="2"/>`,
        );
    } else parts.push(`<text x="${x + 25}" y="${y(0) - 4}" text-anchor="middle">n/a</text>`);
    parts.push(`<text x="${x + 25}" y="${H - bottom + 18}" text-anchor="middle">${escapeXml(b.name)}</text>`);
  });
  if (floor !== null && Number.isFinite(floor)) {
    parts.push(
      `<line x1="${left}" y1="${y(floor)}" x2="${W - 20}" y2="${y(floor)}" stroke="#c33" stroke-dasharray="5,4"/>`,
    );
    parts.push(`<text x="${W - 22}" y="${y(floor) - 4}" text-anchor="end" fill="#c33">real vs real</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
