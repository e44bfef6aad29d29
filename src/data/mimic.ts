/**
 * Loader for MIMIC-CXR-JPG (2.0.0 / 2.1.0) and the MIMIC-CXR reports, as laid out on disk. CSVs are
 * read gzipped or plain, columns by name (extra columns tolerated, order irrelevant); images,
 * studies, labels and splits are joined; reports come from the per-study .txt files or from a
 * pre-sectioned mimic_cxr_sectioned.csv. Problems with single rows or files are counted and the
 * item skipped; with `strict` the first one is fatal. Missing top-level files are always fatal.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../util/errors';
import { forEachCsvRow } from './csv';
import { imagePath, isDicomId, isStudyId, isSubjectId, reportPath } from './ids';
import { CHEXPERT_LABELS, emptyLabels, parseLabelCell } from './labels';
import { conditioningText, parseReport, TextSource } from './report-parser';

export type Split = 'train' | 'validate' | 'test';

export interface LoaderOptions {
  root: string;
  /** ViewPosition values to keep (default PA and AP); [] keeps every view. */
  views?: string[];
  splits?: Split[];
  labelSource?: 'chexpert' | 'negbio';
  /** Report text source: per-study .txt files (default) or a mimic_cxr_sectioned.csv path. */
  sectionedCsv?: string;
  /** Section to condition on first (the other is the fallback, then the last paragraph). */
  textSection?: 'impression' | 'findings';
  strict?: boolean;
  /** Check that every selected image file exists (costs a stat per image). */
  checkImages?: boolean;
  /** Do not read reports (label-only uses such as classifier training, or timing the tables). */
  skipReports?: boolean;
}

export interface MimicRecord {
  dicomId: string;
  subjectId: string;
  studyId: string;
  view: string;
  split: Split;
  rows: number;
  columns: number;
  imageFile: string;
  /** CHEXPERT_LABELS order; codes 1 positive, 0 negative, -1 uncertain, -2 not mentioned. */
  labels: Int8Array;
  hasLabelRow: boolean;
  text: string;
  textSource: TextSource | 'none';
}

export interface Problem {
  file: string;
  line?: number;
  message: string;
}

export interface LoadResult {
  records: MimicRecord[];
  problems: Problem[];
  /** Image rows read from the metadata (before filters). */
  metadataRows: number;
  /** Counts per split and view over all well-formed image rows (before the view/split filters). */
  byView: Record<string, number>;
  bySplit: Record<string, number>;
  sectionCoverage: Record<TextSource | 'missing', number>;
}

const TABLES = {
  metadata: 'mimic-cxr-2.0.0-metadata',
  split: 'mimic-cxr-2.0.0-split',
  chexpert: 'mimic-cxr-2.0.0-chexpert',
  negbio: 'mimic-cxr-2.0.0-negbio',
};

/** Finds TABLE.csv.gz or TABLE.csv under root; a clear error when neither is there. */
export function findTable(root: string, base: string): string {
  for (const ext of ['.csv.gz', '.csv']) {
    const f = path.join(root, base + ext);
    if (fs.existsSync(f)) return f;
  }
  throw new UserError(`${root}: missing ${base}.csv.gz (or ${base}.csv); is this a MIMIC-CXR-JPG root?`);
}

class ProblemLog {
  readonly problems: Problem[] = [];
  constructor(private readonly strict: boolean) {}
  add(file: string, message: string, line?: number): void {
    const p = { file, line, message };
    if (this.strict) throw new UserError(`${file}${line ? `: line ${line}` : ''}: ${message}`);
    this.problems.push(p);
  }
}

function readLabels(file: string, log: ProblemLog): Map<string, Int8Array> {
  const out = new Map<string, Int8Array>();
  forEachCsvRow(file, ['subject_id', 'study_id', ...CHEXPERT_LABELS], (get, line) => {
    const labels = emptyLabels();
    let bad = false;
    CHEXPERT_LABELS.forEach((name, k) => {
      const code = parseLabelCell(get(name));
      if (code === null) {
        log.add(file, `bad value ${JSON.stringify(get(name))} for "${name}" (expected 1.0, 0.0, -1.0 or empty)`, line);
        bad = true;
      } else labels[k] = code;
    });
    if (!bad) out.set(`${get('subject_id')}/${get('study_id')}`, labels);
  }, (m, line) => log.add(file, m, line));
  return out;
}

function readSectioned(file: string, log: ProblemLog): Map<string, { impression: string; findings: string; last: string }> {
  const out = new Map<string, { impression: string; findings: string; last: string }>();
  forEachCsvRow(file, ['study', 'impression', 'findings', 'last_paragraph'], (get, line) => {
    const study = get('study').replace(/^s/, '');
    if (!isStudyId(study)) {
      log.add(file, `bad study ${JSON.stringify(get('study'))} (expected s5xxxxxxx)`, line);
      return;
    }
    out.set(study, { impression: get('impression'), findings: get('findings'), last: get('last_paragraph') });
  }, (m, line) => log.add(file, m, line));
  return out;
}

export function loadMimic(o: LoaderOptions): LoadResult {
  if (!fs.existsSync(o.root)) throw new UserError(`${o.root}: no such folder`);
  const log = new ProblemLog(!!o.strict);
  const views = o.views ?? ['PA', 'AP'];
  const splits = new Set<Split>(o.splits ?? ['train', 'validate', 'test']);
  const prefer = o.textSection ?? 'impression';

  const metaFile = findTable(o.root, TABLES.metadata);
  const splitFile = findTable(o.root, TABLES.split);
  const splitOf = new Map<string, string>();
  forEachCsvRow(splitFile, ['dicom_id', 'split'], (get) => splitOf.set(get('dicom_id'), get('split')), (m, line) => log.add(splitFile, m, line));
  const labelFile = findTable(o.root, o.labelSource === 'negbio' ? TABLES.negbio : TABLES.chexpert);
  const labels = readLabels(labelFile, log);
  const sectioned = o.sectionedCsv ? readSectioned(o.sectionedCsv, log) : null;

  const byView: Record<string, number> = {};
  const bySplit: Record<string, number> = {};
  const coverage: Record<TextSource | 'missing', number> = { impression: 0, findings: 0, last_paragraph: 0, missing: 0 };
  const textCache = new Map<string, { text: string; source: TextSource } | null>();
  const records: MimicRecord[] = [];

  const studyText = (subject: string, study: string): { text: string; source: TextSource } | null => {
    const key = `${subject}/${study}`;
    if (textCache.has(key)) return textCache.get(key)!;
    let result: { text: string; source: TextSource } | null = null;
    if (sectioned) {
      const s = sectioned.get(study);
      if (!s) log.add(o.sectionedCsv!, `no row for study s${study}`);
      else {
        const order: [string, TextSource][] = prefer === 'impression' ? [[s.impression, 'impression'], [s.findings, 'findings']] : [[s.findings, 'findings'], [s.impression, 'impression']];
        const hit = order.find(([t]) => t.trim().length > 0);
        result = hit ? { text: hit[0].replace(/\s+/g, ' ').trim(), source: hit[1] } : { text: s.last.replace(/\s+/g, ' ').trim(), source: 'last_paragraph' };
      }
    } else {
      const file = path.join(o.root, reportPath(subject, study));
      let raw: string | null = null;
      try {
        raw = fs.readFileSync(file, 'utf8');
      } catch {
        log.add(file, 'missing report');
      }
      if (raw !== null) result = conditioningText(parseReport(raw), prefer);
    }
    if (result && !result.text) result = null;
    coverage[result ? result.source : 'missing']++;
    textCache.set(key, result);
    return result;
  };

  const metadataRows = forEachCsvRow(metaFile, ['dicom_id', 'subject_id', 'study_id', 'ViewPosition', 'Rows', 'Columns'], (get, line) => {
    const dicomId = get('dicom_id'), subjectId = get('subject_id'), studyId = get('study_id');
    if (!isDicomId(dicomId) || !isSubjectId(subjectId) || !isStudyId(studyId)) {
      log.add(metaFile, `bad identifiers (dicom_id ${JSON.stringify(dicomId)}, subject_id ${JSON.stringify(subjectId)}, study_id ${JSON.stringify(studyId)})`, line);
      return;
    }
    const rows = Number(get('Rows')), columns = Number(get('Columns'));
    if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows <= 0 || columns <= 0) {
      log.add(metaFile, `bad Rows/Columns ${JSON.stringify(get('Rows'))}/${JSON.stringify(get('Columns'))}`, line);
      return;
    }
    const view = get('ViewPosition').trim();
    const split = splitOf.get(dicomId);
    if (!split || !['train', 'validate', 'test'].includes(split)) {
      log.add(splitFile, split ? `bad split ${JSON.stringify(split)} for ${dicomId}` : `no split for ${dicomId}`);
      return;
    }
    byView[view || '(empty)'] = (byView[view || '(empty)'] ?? 0) + 1;
    bySplit[split] = (bySplit[split] ?? 0) + 1;
    if (views.length && !views.includes(view)) return;
    if (!splits.has(split as Split)) return;
    const text = o.skipReports ? { text: '', source: 'none' as const } : studyText(subjectId, studyId);
    if (!text) return;
    const imageFile = path.join(o.root, imagePath(subjectId, studyId, dicomId));
    if (o.checkImages && !fs.existsSync(imageFile)) {
      log.add(imageFile, 'missing image');
      return;
    }
    const lab = labels.get(`${subjectId}/${studyId}`);
    records.push({
      dicomId, subjectId, studyId, view, split: split as Split, rows, columns, imageFile,
      labels: lab ?? emptyLabels(), hasLabelRow: !!lab, text: text.text, textSource: text.source,
    });
  }, (m, line) => log.add(metaFile, m, line));
  return { records, problems: log.problems, metadataRows, byView, bySplit, sectionCoverage: coverage };
}
