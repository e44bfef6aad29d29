/**
 * `cxrl-native reward fit --kind posture|classifier|consistency`: trains a default reward model
 * with the native engine on a MIMIC-CXR-JPG-layout dataset (the embedded synthetic one by default),
 * exports it to ONNX with its contract, reloads it through onnxruntime and reports the largest
 * difference from the engine, and measures its quality on the held-out splits (validate + test).
 */
import * as fs from 'fs';
import { loadMimic } from '../data/mimic';
import { embeddedDataset } from '../data/cache';
import { writeFileAtomic } from '../util/atomic';
import { UserError } from '../util/errors';
import { Progress } from '../util/progress';
import { Rng } from '../util/random';
import { Contract } from './contract';
import { fitClassifier } from './fit/classifier';
import { fitConsistency } from './fit/consistency';
import { loadImages } from './fit/data';
import { fitPosture } from './fit/posture';

export type RewardKind = 'posture' | 'classifier' | 'consistency';

export interface FitArgs {
  kind: RewardKind;
  data?: string;
  out: string;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  imageSize: number;
  synthStudies: number;
  json?: boolean;
  quiet?: boolean;
  /** replace an existing model at --out (otherwise refused) */
  overwrite?: boolean;
}

/** `reward fit`'s defaults (also what the default models in the cache folder are fitted with). */
export const REWARD_FIT_DEFAULTS = {
  steps: 1200,
  batchSize: 32,
  lr: 2e-3,
  imageSize: 64,
  seed: 0,
  synthStudies: 2000,
} as const;

export interface FitReport {
  kind: RewardKind;
  files: string[];
  data: string;
  trainImages: number;
  heldOutImages: number;
  steps: number;
  onnxMaxError: number;
  quality: Record<string, unknown>;
}

function addFitToContract(file: string, fit: Record<string, unknown>): void {
  const c = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as Contract & { fit?: unknown };
  c.fit = fit;
  writeFileAtomic(`${file}.json`, JSON.stringify(c, null, 2) + '\n');
}

export async function runRewardFit(a: FitArgs): Promise<FitReport> {
  if (!a.out.endsWith('.onnx')) throw new UserError(`--out must name a .onnx file, got ${a.out}`);
  if (fs.existsSync(a.out) && !a.overwrite) {
    throw new UserError(
      `${a.out} already exists: add --overwrite to replace it, or choose another --out (nothing was written)`,
    );
  }
  const root = a.data ?? (await embeddedDataset(a.synthStudies, 0));
  const section = a.kind === 'consistency' ? 'findings' : 'impression';
  const bar = a.quiet ? null : new Progress('loading images', 2, 'splits');
  const records = loadMimic({ root, splits: ['train', 'validate', 'test'], textSection: section }).records;
  const train = await loadImages(
    root,
    records.filter((r) => r.split === 'train'),
    a.imageSize,
    'train',
  );
  bar?.update(1);
  const held = await loadImages(
    root,
    records.filter((r) => r.split !== 'train'),
    a.imageSize,
    'validate + test',
  );
  bar?.update(2);
  const loop = { steps: a.steps, batchSize: a.batchSize, lr: a.lr, seed: a.seed, quiet: a.quiet };
  const files = [a.out];
  let result: { quality: object; onnxMaxError: number };
  if (a.kind === 'classifier') {
    const r = await fitClassifier(train, held, loop, a.out);
    files.push(r.featuresFile);
    result = r;
  } else if (a.kind === 'posture') {
    result = await fitPosture(train, held, loop, a.out, root, new Rng(a.seed + 7));
  } else {
    const impressionOf = new Map(
      loadMimic({ root, splits: ['train', 'validate', 'test'], textSection: 'impression' }).records.map((r) => [
        r.studyId,
        r.text,
      ]),
    );
    const r = await fitConsistency(train, held, impressionOf, loop, a.out);
    files.push(r.textFile);
    result = r;
  }
  const quality = result.quality as Record<string, unknown>,
    onnxMaxError = result.onnxMaxError;
  const report: FitReport = {
    kind: a.kind,
    files,
    data: root,
    trainImages: train.records.length,
    heldOutImages: held.records.length,
    steps: a.steps,
    onnxMaxError,
    quality,
  };
  for (const f of files)
    addFitToContract(f, {
      data: root,
      train_images: report.trainImages,
      steps: a.steps,
      batch_size: a.batchSize,
      lr: a.lr,
      image_size: a.imageSize,
      seed: a.seed,
      onnx_max_abs_error_vs_engine: onnxMaxError,
      held_out_quality: quality,
    });
  return report;
}

const f3 = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : String(v));

export function describeFit(r: FitReport): string {
  const q = r.quality as Record<string, never>;
  const lines = [
    `reward fit ${r.kind}: ${r.files.join(' + ')} (trained on ${r.trainImages} images, ${r.steps} steps; held out ${r.heldOutImages})`,
    `  onnxruntime vs engine: max abs error ${r.onnxMaxError.toExponential(2)}`,
  ];
  if (r.kind === 'classifier') {
    lines.push(
      `  held-out macro AUROC: ${f3(q.macroAurocRendered)} over the labels the phantoms render, ${f3(q.macroAurocAll)} over all with both classes`,
    );
    lines.push(
      '  ' +
        Object.entries(q.aurocByLabel as Record<string, number | null>)
          .map(([k, v]) => `${k} ${v === null ? 'n/a' : v.toFixed(3)}`)
          .join(', '),
    );
  } else if (r.kind === 'posture') {
    lines.push(
      `  held-out warped images: mean |psi error| ${f3(q.augmentedMaeMean)} (per parameter ${(q.augmentedMae as number[]).map(f3).join(' ')}) vs training-transform spread ${f3(q.trainingSpreadMaeMean)}`,
    );
    if (q.truthMaeMean !== undefined)
      lines.push(
        `  against the recorded phantom poses: mean |psi error| ${f3(q.truthMaeMean)} (per parameter ${(q.truthMae as number[]).map(f3).join(' ')}) vs pose spread ${f3(q.truthSpreadMaeMean)}`,
      );
  } else {
    lines.push(
      `  held-out report-to-image recall@1 among 100: findings ${f3(q.recallAt1Findings)}, impression ${f3(q.recallAt1Impression)} (chance 0.010; ${q.heldOutStudies} studies)`,
    );
  }
  return lines.join('\n');
}
