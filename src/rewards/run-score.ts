/**
 * `cxrl-native reward score`: images from a folder, their reports (a --reports CSV/JSONL, or the
 * JSON sidecars that `generate` writes), labels from the report file's CheXpert columns or, when it
 * has none, from the rule-based labeler; then r_align, s_diag and s_cons per image and their means.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readCsv } from '../data/csv';
import { ImageLoader, toModelRange } from '../data/images';
import { CHEXPERT_LABELS, emptyLabels, parseLabelCell } from '../data/labels';
import type { OrtDevice } from '../onnx/runtime';
import { UserError } from '../util/errors';
import { labelReport } from './labeler';
import { meanScores, RewardScorer, ScoreSummary } from './scorer';

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const TEXT_FIELDS = ['text', 'report', 'prompt', 'impression'];

interface ReportRow {
  text: string;
  labels: Int8Array | null;
}

/** image file name -> report text and (when the file has CheXpert columns) labels. */
export function readReports(file: string): Map<string, ReportRow> {
  if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`);
  const out = new Map<string, ReportRow>();
  if (file.endsWith('.csv') || file.endsWith('.csv.gz')) {
    const t = readCsv(file);
    const img = ['image', 'file', 'path'].map((c) => t.header.indexOf(c)).find((i) => i >= 0);
    const txt = TEXT_FIELDS.map((c) => t.header.indexOf(c)).find((i) => i >= 0);
    if (img === undefined || txt === undefined)
      throw new UserError(
        `${file}: needs an image (or file/path) column and a text (or report/prompt/impression) column`,
      );
    const labelCols = CHEXPERT_LABELS.map((l) => t.header.indexOf(l));
    const hasLabels = labelCols.some((c) => c >= 0);
    t.rows.forEach((r, i) => {
      let labels: Int8Array | null = null;
      if (hasLabels) {
        labels = emptyLabels();
        labelCols.forEach((c, k) => {
          if (c < 0) return;
          const v = parseLabelCell(r[c]);
          if (v === null)
            throw new UserError(
              `${file}: line ${t.lines[i]}: ${CHEXPERT_LABELS[k]} = "${r[c]}" is not 1.0, 0.0, -1.0 or empty`,
            );
          labels![k] = v;
        });
      }
      out.set(path.basename(r[img]), { text: r[txt], labels });
    });
    return out;
  }
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line);
      } catch {
        throw new UserError(`${file}: line ${i + 1} is not JSON`);
      }
      const img = ['image', 'file', 'path'].map((k) => o[k]).find((v) => typeof v === 'string') as string | undefined;
      const txt = TEXT_FIELDS.map((k) => o[k]).find((v) => typeof v === 'string') as string | undefined;
      if (!img || txt === undefined) throw new UserError(`${file}: line ${i + 1} needs "image" and "text" fields`);
      out.set(path.basename(img), { text: txt, labels: null });
    });
  return out;
}

export interface ScoreArgs {
  models: string[];
  images: string;
  reports?: string;
  device?: OrtDevice;
  /** stop at the first unreadable image instead of skipping it */
  strict?: boolean;
}

export interface ScoreResult {
  files: string[];
  summary: ScoreSummary;
  providers: string[];
  /** per image, for images without a report: the classifier's probabilities by CheXpert label */
  probabilities: (Record<string, number> | null)[];
  /** what was not scored, and why */
  notes: string[];
  /** images that could not be read and were skipped */
  unreadable: string[];
}

/**
 * Decodes every candidate image once at `size` (the first side the models read): the readable
 * ones, their pixels in [-1, 1], and the unreadable ones (truncated, not images), which are
 * skipped, or stop the run with `strict`.
 */
async function loadReadable(
  dir: string,
  candidates: string[],
  size: number,
  strict: boolean,
): Promise<{ files: string[]; unreadable: string[]; pixels: Float32Array }> {
  const loader = new ImageLoader({ size }, null, false);
  const pixels = new Float32Array(candidates.length * size * size);
  const files: string[] = [],
    unreadable: string[] = [];
  for (const f of candidates) {
    const px = await loader.load({ dicomId: f, imageFile: path.join(dir, f) });
    if (px) {
      toModelRange(px, pixels, files.length * size * size);
      files.push(f);
    } else if (strict)
      throw new UserError(`${path.join(dir, f)}: cannot read the image (--strict): ${loader.problems.at(-1)?.message}`);
    else unreadable.push(f);
  }
  return { files, unreadable, pixels: pixels.subarray(0, files.length * size * size) };
}

export async function runRewardScore(a: ScoreArgs): Promise<ScoreResult> {
  if (!fs.existsSync(a.images) || !fs.statSync(a.images).isDirectory())
    throw new UserError(`${a.images}: not a folder of images`);
  // grid.png is the contact sheet `generate --grid` writes beside the images.
  const candidates = fs
    .readdirSync(a.images)
    .filter((f) => IMAGE_EXT.test(f) && f !== 'grid.png')
    .sort();
  if (candidates.length === 0) throw new UserError(`${a.images}: no .png or .jpg images`);
  const scorer = await RewardScorer.open(a.models, a.device ?? 'cpu');
  const firstSide = scorer.imageSides()[0];
  const { files, unreadable, pixels } = await loadReadable(a.images, candidates, firstSide, !!a.strict);
  if (files.length === 0) throw new UserError(`${a.images}: none of the ${candidates.length} images can be read`);
  const table = a.reports ? readReports(a.reports) : null;
  const missing: boolean[] = [];
  const texts: string[] = [],
    labels: Int8Array[] = [];
  for (const f of files) {
    let row: ReportRow | undefined = table?.get(f);
    if (!row && !table) {
      const side = path.join(a.images, f.replace(IMAGE_EXT, '.json'));
      if (fs.existsSync(side)) {
        const prompt = (JSON.parse(fs.readFileSync(side, 'utf8')) as { prompt?: unknown }).prompt;
        if (typeof prompt === 'string') row = { text: prompt, labels: null };
      }
    }
    missing.push(!row);
    texts.push(row?.text ?? '');
    labels.push(row?.labels ?? labelReport(row?.text ?? ''));
  }
  const loaded = new Map<number, Float32Array>([[firstSide, pixels]]);
  const images = async (size: number) => {
    if (!loaded.has(size)) {
      const loader = new ImageLoader({ size }, null, true);
      const buf = new Float32Array(files.length * size * size);
      for (let i = 0; i < files.length; i++) {
        const px = await loader.load({ dicomId: files[i], imageFile: path.join(a.images, files[i]) });
        if (!px) throw new UserError(`${path.join(a.images, files[i])}: cannot read the image`);
        toModelRange(px, buf, i * size * size);
      }
      loaded.set(size, buf);
    }
    return { data: loaded.get(size)!, size };
  };
  const summary = await scorer.score(files.length, images, texts, labels);
  // Images without a report get what needs none: r_align, and the classifier's probabilities.
  const notes: string[] = [];
  if (unreadable.length)
    notes.push(
      `${unreadable.length} unreadable images skipped (--strict stops instead): ${unreadable.slice(0, 10).join(', ')}${unreadable.length > 10 ? ', ...' : ''}`,
    );
  const probabilities: (Record<string, number> | null)[] = files.map(() => null);
  const without = missing.flatMap((m, i) => (m ? [i] : []));
  if (without.length) {
    for (const i of without) summary.perImage[i] = { ...summary.perImage[i], s_diag: null, s_cons: null };
    summary.means = meanScores(summary.perImage);
    if (scorer.classifier || scorer.consistency) {
      notes.push(
        `${without.length} of ${files.length} images have no report text (no --reports row, no generate sidecar): s_diag and s_cons skipped for them` +
          (scorer.classifier ? "; the classifier's probabilities are given instead" : ''),
      );
    }
    const probs = summary.probabilities;
    if (probs) {
      for (const i of without)
        probabilities[i] = Object.fromEntries(
          CHEXPERT_LABELS.flatMap((l, k) => (Number.isNaN(probs[i][k]) ? [] : [[l, probs[i][k]]])),
        );
    }
  }
  const providers = [scorer.posture, scorer.classifier, scorer.consistency?.image]
    .filter((m) => m)
    .map((m) => `${m!.file}: ${m!.provider}`);
  return { files, summary, providers, probabilities, notes, unreadable };
}
