/**
 * The reports the RL stage conditions on: one per study of a split (its impression, else its
 * findings, as the loader picks), with the labels the diagnostic reward reads (the CheXpert table's
 * row when the study has one, else the rule-based labeler's reading of the text).
 * Training prompts are drawn in a seeded order per pass over the split (a cursor in the checkpoint);
 * the evaluation set is the first N studies of the validate split by study id, fixed for a run.
 */
import { loadMimic, Split } from '../data/mimic';
import { labelReport } from '../rewards/labeler';
import { UserError } from '../util/errors';
import { Rng } from '../util/random';

export interface Report {
  studyId: string;
  text: string;
  labels: Int8Array;
}

/** The reports of several splits from one pass over the dataset's tables. */
export function loadReportsBySplit(root: string, splits: Split[]): Record<Split, Report[]> {
  const seen = new Set<string>();
  const out: Record<Split, Report[]> = { train: [], validate: [], test: [] };
  for (const r of loadMimic({ root, splits, textSection: 'impression' }).records) {
    if (seen.has(r.studyId) || !r.text.trim()) continue;
    seen.add(r.studyId);
    out[r.split].push({ studyId: r.studyId, text: r.text, labels: r.hasLabelRow ? r.labels : labelReport(r.text) });
  }
  for (const list of Object.values(out))
    list.sort((a, b) => (a.studyId < b.studyId ? -1 : a.studyId > b.studyId ? 1 : 0));
  return out;
}

export function loadReports(root: string, split: Split): Report[] {
  return loadReportsBySplit(root, [split])[split];
}

export interface PromptCursor {
  /** passes over the training reports completed */
  pass: number;
  /** reports of the current pass already used */
  offset: number;
}

/** The next `n` reports in the seeded order of each pass; advances the cursor. */
export function nextPrompts(reports: readonly Report[], n: number, seed: number, cursor: PromptCursor): Report[] {
  if (reports.length === 0) throw new UserError('no training reports with text');
  const out: Report[] = [];
  while (out.length < n) {
    const order = new Rng((seed * 1000003 + cursor.pass) >>> 0).shuffle(
      Array.from({ length: reports.length }, (_, i) => i),
    );
    while (out.length < n && cursor.offset < order.length) out.push(reports[order[cursor.offset++]]);
    if (cursor.offset >= order.length) {
      cursor.pass++;
      cursor.offset = 0;
    }
  }
  return out;
}

/** The fixed evaluation reports: the first n of the validate split's reports (sorted by study id). */
export function evalReports(all: Report[], n: number, root: string): Report[] {
  if (all.length < n)
    throw new UserError(
      `${root}: the validate split has ${all.length} reports with text; --eval-reports ${n} needs that many`,
    );
  return all.slice(0, n);
}
