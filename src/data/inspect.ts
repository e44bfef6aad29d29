/** `cxrl-native data inspect`: what a dataset root holds and what is wrong with it. */
import { CHEXPERT_LABELS, NEGATIVE, NOT_MENTIONED, POSITIVE, UNCERTAIN } from './labels';
import { loadMimic, LoaderOptions, Problem } from './mimic';

export interface InspectReport {
  root: string;
  images: number;
  studies: number;
  bySplit: Record<string, number>;
  byView: Record<string, number>;
  /** Per label, over studies (all views): counts of positive / negative / uncertain / not mentioned. */
  labels: Record<string, { positive: number; negative: number; uncertain: number; notMentioned: number }>;
  studiesWithoutLabelRow: number;
  reportSections: Record<string, number>;
  problems: { total: number; byKind: Record<string, number>; first: Problem[] };
}

export function inspectDataset(o: Omit<LoaderOptions, 'views' | 'checkImages'>): InspectReport {
  const r = loadMimic({ ...o, views: [], checkImages: true });
  const studies = new Map<string, (typeof r.records)[number]>();
  for (const rec of r.records) studies.set(rec.studyId, rec);
  const labels: InspectReport['labels'] = {};
  CHEXPERT_LABELS.forEach((name, k) => {
    const c = { positive: 0, negative: 0, uncertain: 0, notMentioned: 0 };
    for (const rec of studies.values()) {
      const v = rec.labels[k];
      if (v === POSITIVE) c.positive++;
      else if (v === NEGATIVE) c.negative++;
      else if (v === UNCERTAIN) c.uncertain++;
      else if (v === NOT_MENTIONED) c.notMentioned++;
    }
    labels[name] = c;
  });
  const byKind: Record<string, number> = {};
  for (const p of r.problems) {
    const kind = p.message.replace(/ \(.*$/, '').replace(/[0-9a-f]{8}(-[0-9a-f]{8}){4}/g, '<dicom>').replace(/"[^"]*"/g, '"…"');
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return {
    root: o.root, images: r.records.length, studies: studies.size, bySplit: r.bySplit, byView: r.byView, labels,
    studiesWithoutLabelRow: [...studies.values()].filter((s) => !s.hasLabelRow).length,
    reportSections: r.sectionCoverage,
    problems: { total: r.problems.length, byKind, first: r.problems.slice(0, 20) },
  };
}

export function formatInspectReport(x: InspectReport): string {
  const out: string[] = [];
  out.push(`${x.root}: ${x.images} images with report text, ${x.studies} studies`);
  out.push(`split: ${Object.entries(x.bySplit).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(`views: ${Object.entries(x.byView).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(`report text from: ${Object.entries(x.reportSections).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(`studies without a label row: ${x.studiesWithoutLabelRow}`);
  out.push('label                        positive negative uncertain not-mentioned');
  for (const [name, c] of Object.entries(x.labels)) {
    out.push(`${name.padEnd(28)} ${String(c.positive).padStart(8)} ${String(c.negative).padStart(8)} ${String(c.uncertain).padStart(9)} ${String(c.notMentioned).padStart(13)}`);
  }
  out.push(`problems: ${x.problems.total}`);
  for (const [k, v] of Object.entries(x.problems.byKind)) out.push(`  ${v} x ${k}`);
  for (const p of x.problems.first) out.push(`  e.g. ${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`);
  return out.join('\n');
}
