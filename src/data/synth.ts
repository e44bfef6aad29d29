/**
 * `cxrl-native data synth`: a synthetic dataset in the exact MIMIC-CXR-JPG layout (files/p1X/...,
 * the four CSV tables gzipped with their real headers and encodings, IMAGE_FILENAMES) with
 * MIMIC-CXR-format reports beside the study folders, so the real loader code path runs on it.
 * Images are procedural phantoms whose content follows each study's labels. The true pose and
 * phantom parameters go to `cxrl-synthetic-truth.csv`, which is not part of MIMIC.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '../util/random';
import { UserError } from '../util/errors';
import { imagePath, randomDicomId, reportPath } from './ids';
import { CHEXPERT_LABELS, formatLabelCell, LabelCode, NOT_MENTIONED, POSITIVE, UNCERTAIN } from './labels';
import { phantomParams, renderPhantom, samplePose } from './phantom';
import { writeReport } from './report-writer';
import { sampleStudyFacts, StudyFacts } from './study-facts';
import { writeCsv } from './csv';

export const TRUTH_FILE = 'cxrl-synthetic-truth.csv';
/** Bumped whenever the rendering or the reports change, so cached datasets are not reused across versions. */
export const SYNTH_VERSION = 2;

export const METADATA_HEADER = ['dicom_id', 'subject_id', 'study_id', 'PerformedProcedureStepDescription', 'ViewPosition', 'Rows', 'Columns',
  'StudyDate', 'StudyTime', 'ProcedureCodeSequence_CodeMeaning', 'ViewCodeSequence_CodeMeaning', 'PatientOrientationCodeSequence_CodeMeaning'];
export const SPLIT_HEADER = ['dicom_id', 'study_id', 'subject_id', 'split'];
export const LABEL_HEADER = ['subject_id', 'study_id', ...CHEXPERT_LABELS];
export const TRUTH_HEADER = ['dicom_id', 'view_rendered', 'pose_scale_x', 'pose_scale_y', 'pose_shift_x', 'pose_shift_y', 'pose_rotation', 'heart_ratio'];

export interface SynthOptions {
  out: string;
  studies: number;
  seed: number;
  size: number;
  validateFraction?: number;
  testFraction?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SynthSummary {
  patients: number;
  studies: number;
  images: number;
  seconds: number;
}

const VIEW_MEANING: Record<string, string> = { PA: 'postero-anterior', AP: 'antero-posterior', LATERAL: 'lateral', LL: 'left lateral' };
const RARE_VIEWS = ['PA LLD', 'LAO', 'RAO', 'AP AXIAL', 'AP LLD', 'XTABLE LATERAL', 'SWIMMERS', 'PA RLD'];

function sampleViews(rng: Rng): string[] {
  const u = rng.uniform();
  if (u < 0.42) return ['PA', 'LATERAL'];
  if (u < 0.74) return rng.uniform() < 0.1 ? ['AP', 'AP'] : ['AP'];
  if (u < 0.8) return ['PA'];
  if (u < 0.85) return ['AP', 'LATERAL'];
  if (u < 0.9) return ['PA', 'LL'];
  if (u < 0.96) return ['', 'AP'];
  return ['AP', RARE_VIEWS[rng.int(0, RARE_VIEWS.length - 1)]];
}

function procedure(views: string[]): string {
  if (views.includes('LATERAL') || views.includes('LL')) return 'CHEST (PA AND LAT)';
  if (views.includes('AP')) return 'CHEST (PORTABLE AP)';
  return 'CHEST (PA ONLY)';
}

/** HHMMSS.fff without a leading zero, as in the metadata. */
function studyTime(rng: Rng): string {
  const h = rng.int(0, 23), m = rng.int(0, 59), s = rng.int(0, 59), ms = rng.int(0, 999);
  return `${h * 10000 + m * 100 + s}.${String(ms).padStart(3, '0')}`;
}

function studyDate(rng: Rng): string {
  const y = rng.int(2105, 2205), mo = rng.int(1, 12), d = rng.int(1, 28);
  return `${y}${String(mo).padStart(2, '0')}${String(d).padStart(2, '0')}`;
}

function labelRow(subject: string, study: string, f: StudyFacts, negbio: boolean, rng: Rng): string[] {
  return [subject, study, ...CHEXPERT_LABELS.map((_, k) => {
    let code = f.labels[k] as LabelCode; // the facts hold label codes
    // NegBio disagrees with CheXpert now and then: uncertain findings are called positive.
    if (negbio && code === UNCERTAIN && rng.uniform() < 0.3) code = POSITIVE;
    return formatLabelCell(code);
  })];
}

/** Bounded-concurrency queue for the JPEG encodes (sharp runs them on libuv's threads). */
class EncodeQueue {
  private inFlight = new Set<Promise<void>>();
  constructor(private readonly limit: number) {}
  async add(job: () => Promise<void>): Promise<void> {
    while (this.inFlight.size >= this.limit) await Promise.race(this.inFlight);
    const p = job().finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }
  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
  }
}

export async function synthesizeDataset(o: SynthOptions): Promise<SynthSummary> {
  if (!Number.isInteger(o.studies) || o.studies < 1) throw new UserError(`--studies must be a positive integer, got ${o.studies}`);
  if (!Number.isInteger(o.size) || o.size < 32 || o.size > 4096) throw new UserError(`--size must be an integer in [32, 4096], got ${o.size}`);
  const t0 = Date.now();
  fs.mkdirSync(o.out, { recursive: true });
  if (fs.existsSync(path.join(o.out, 'files')) && fs.readdirSync(path.join(o.out, 'files')).length > 0) {
    throw new UserError(`${o.out}: already holds a files/ tree; choose an empty folder (nothing was overwritten)`);
  }
  const rng = new Rng(o.seed);
  const valFrac = o.validateFraction ?? 0.05, testFrac = o.testFraction ?? 0.1;
  const metadata: string[][] = [], split: string[][] = [], chexpert: string[][] = [], negbio: string[][] = [];
  const truth: string[][] = [], filenames: string[] = [];
  const usedSubjects = new Set<string>(), usedStudies = new Set<string>();
  const queue = new EncodeQueue(8);
  let studies = 0, images = 0, patients = 0;

  while (studies < o.studies) {
    let subject: string;
    do subject = String(10000000 + rng.int(0, 9999999)); while (usedSubjects.has(subject));
    usedSubjects.add(subject);
    patients++;
    // Patient-disjoint split: every study and image of a patient shares it, drawn with the given
    // fractions. So that even a small dataset has every split the tools need (RL's held-out
    // evaluation reads validate, eval reads test), the 2nd and 3rd patients go to validate and test
    // when their fractions are non-zero; every later patient is drawn at random.
    const u = rng.uniform();
    const patientSplit =
      patients === 2 && valFrac > 0
        ? 'validate'
        : patients === 3 && testFrac > 0
          ? 'test'
          : u < valFrac
            ? 'validate'
            : u < valFrac + testFrac
              ? 'test'
              : 'train';
    const nStudies = Math.min(o.studies - studies, rng.int(1, 3));
    for (let s = 0; s < nStudies; s++) {
      let study: string;
      do study = String(50000000 + rng.int(0, 9999999)); while (usedStudies.has(study));
      usedStudies.add(study);
      studies++;
      const facts = sampleStudyFacts(rng);
      const views = sampleViews(rng);
      const date = studyDate(rng), time = studyTime(rng), proc = procedure(views);
      const reportFile = path.join(o.out, reportPath(subject, study));
      fs.mkdirSync(path.join(path.dirname(reportFile), `s${study}`), { recursive: true });
      fs.writeFileSync(reportFile, writeReport(facts, views, rng));
      // ~3% of studies have no label row; ~2% have a row with every label empty.
      const r = rng.uniform();
      if (r >= 0.03) {
        const blank = r < 0.05;
        const rowFacts = blank ? { ...facts, labels: new Int8Array(CHEXPERT_LABELS.length).fill(NOT_MENTIONED) } : facts;
        chexpert.push(labelRow(subject, study, rowFacts, false, rng));
        negbio.push(labelRow(subject, study, rowFacts, true, rng));
      }
      for (const view of views) {
        const dicom = randomDicomId(rng);
        const frontalWide = view === 'AP' ? 0.9 + 0.3 * rng.uniform() : 0.78 + 0.22 * rng.uniform();
        const rows = o.size, columns = Math.max(32, Math.round(o.size * frontalWide));
        const pose = samplePose(rng);
        const params = phantomParams(facts, view, columns, rows, pose, rng.nextUint32(), rng);
        const pixels = renderPhantom(params);
        const rel = imagePath(subject, study, dicom);
        const file = path.join(o.out, rel);
        await queue.add(async () => {
          const jpg = await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width: columns, height: rows, channels: 1 } })
            .toColourspace('b-w').jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
          await fs.promises.writeFile(file, jpg);
        });
        const orientation = view === 'AP' ? (['Recumbent', 'Erect', ''] as const)[rng.int(0, 2)] : view === '' ? '' : 'Erect';
        metadata.push([dicom, subject, study, proc, view, String(rows), String(columns), date, time, proc, VIEW_MEANING[view] ?? '', orientation]);
        split.push([dicom, study, subject, patientSplit]);
        truth.push([dicom, params.view, ...[pose.scaleX, pose.scaleY, pose.shiftX, pose.shiftY, pose.rotation, params.heartRatio].map((v) => v.toFixed(6))]);
        filenames.push(rel);
        images++;
      }
      o.onProgress?.(studies, o.studies);
    }
  }
  await queue.drain();
  writeCsv(path.join(o.out, 'mimic-cxr-2.0.0-metadata.csv.gz'), METADATA_HEADER, metadata);
  writeCsv(path.join(o.out, 'mimic-cxr-2.0.0-split.csv.gz'), SPLIT_HEADER, split);
  writeCsv(path.join(o.out, 'mimic-cxr-2.0.0-chexpert.csv.gz'), LABEL_HEADER, chexpert);
  writeCsv(path.join(o.out, 'mimic-cxr-2.0.0-negbio.csv.gz'), LABEL_HEADER, negbio);
  writeCsv(path.join(o.out, TRUTH_FILE), TRUTH_HEADER, truth);
  fs.writeFileSync(path.join(o.out, 'IMAGE_FILENAMES'), filenames.join('\n') + '\n');
  fs.writeFileSync(path.join(o.out, 'README'),
    `Synthetic dataset in the MIMIC-CXR-JPG 2.0.0 layout, written by cxrl-native data synth (seed ${o.seed}, ${o.studies} studies, size ${o.size}).\n` +
    'Images are procedural phantoms, not patient data. cxrl-synthetic-truth.csv (poses, phantom parameters) is not part of MIMIC.\n');
  return { patients, studies, images, seconds: (Date.now() - t0) / 1000 };
}
