/**
 * The default finding classifier G: the compact CNN with 14 logits (CheXpert order), trained with
 * binary cross-entropy on positive (1) and negative (0) labels only; uncertain and unmentioned
 * labels are masked. Quality: per-label AUROC on the held-out images.
 */
import * as path from 'path';
import { CHEXPERT_LABELS, ChexpertLabel, NEGATIVE, POSITIVE } from '../../data/labels';
import { createImageEncoder, ImageEncoderConfig, NativeImageEncoder } from '../../engine/image-encoder';
import { concatFloat32 } from '../../engine/tensor';
import { exportImageEncoder, exportImageFeatures } from '../../onnx/export-image-encoder';
import { CONTRACT_FORMAT, Contract } from '../contract';
import { auroc } from '../metrics';
import type { FitImages } from './data';
import { verifyImageModel, writeModel } from './export';
import { fitLoop, gather, LoopOptions } from './loop';

/**
 * Labels with a rendering of their own in the phantoms, visible at 64 px: the quality floor is on
 * their macro AUROC. Left out: Consolidation, Pneumonia and Lung Opacity, which the phantom draws
 * as one and the same opacity (so a Consolidation-negative image may show exactly that opacity
 * because the study is Pneumonia-positive; the three differ only by report conventions), and
 * Fracture (a rib break a pixel or two wide at 64 px). All labels' AUROCs are reported.
 */
export const RENDERED_LABELS: ChexpertLabel[] = [
  'Atelectasis',
  'Cardiomegaly',
  'Edema',
  'Enlarged Cardiomediastinum',
  'Lung Lesion',
  'No Finding',
  'Pleural Effusion',
  'Pleural Other',
  'Pneumothorax',
  'Support Devices',
];

export const CNN_CHANNELS = [16, 32, 64, 64];

/** classifier.onnx -> classifier-features.onnx (written beside it by the fit). */
export function classifierFeaturesFile(classifierFile: string): string {
  return classifierFile.replace(/\.onnx$/, '') + '-features.onnx';
}

/** Masked BCE with logits: loss and d loss / d logits (mean over the known entries). */
export function maskedBce(logits: Float32Array, labels: Int8Array[], K: number): { loss: number; grad: Float32Array } {
  const grad = new Float32Array(logits.length);
  let loss = 0,
    n = 0;
  for (let b = 0; b < labels.length; b++)
    for (let k = 0; k < K; k++) if (labels[b][k] === POSITIVE || labels[b][k] === NEGATIVE) n++;
  if (n === 0) return { loss: 0, grad };
  for (let b = 0; b < labels.length; b++) {
    for (let k = 0; k < K; k++) {
      const y = labels[b][k];
      if (y !== POSITIVE && y !== NEGATIVE) continue;
      const z = logits[b * K + k],
        t = y === POSITIVE ? 1 : 0;
      // log(1 + e^z) - t z, stably
      loss += Math.max(z, 0) - z * t + Math.log1p(Math.exp(-Math.abs(z)));
      grad[b * K + k] = (1 / (1 + Math.exp(-z)) - t) / n;
    }
  }
  return { loss: loss / n, grad };
}

export function predictRows(
  enc: NativeImageEncoder,
  images: Float32Array,
  N: number,
  S: number,
  chunk = 64,
): Float32Array {
  const rows: Float32Array[] = [];
  for (let s = 0; s < N; s += chunk) {
    const n = Math.min(chunk, N - s);
    rows.push(enc.forward({ data: images.subarray(s * S * S, (s + n) * S * S), shape: [n, 1, S, S] }).data);
  }
  return concatFloat32(rows);
}

export interface ClassifierQuality {
  aurocByLabel: Record<string, number | null>;
  macroAurocRendered: number;
  macroAurocAll: number;
  heldOutImages: number;
}

export function evaluateClassifier(probs: Float32Array, records: { labels: Int8Array }[]): ClassifierQuality {
  const K = CHEXPERT_LABELS.length,
    by: Record<string, number | null> = {};
  CHEXPERT_LABELS.forEach((name, k) => {
    const s: number[] = [],
      pos: boolean[] = [];
    records.forEach((r, i) => {
      if (r.labels[k] === POSITIVE || r.labels[k] === NEGATIVE) {
        s.push(probs[i * K + k]);
        pos.push(r.labels[k] === POSITIVE);
      }
    });
    const a = auroc(s, pos);
    by[name] = Number.isNaN(a) ? null : a;
  });
  const macro = (names: readonly string[]) => {
    const v = names.map((n) => by[n]).filter((x): x is number => x !== null);
    return v.reduce((a, b) => a + b, 0) / v.length;
  };
  return {
    aurocByLabel: by,
    macroAurocRendered: macro(RENDERED_LABELS),
    macroAurocAll: macro(CHEXPERT_LABELS),
    heldOutImages: records.length,
  };
}

export async function fitClassifier(
  train: FitImages,
  heldOut: FitImages,
  loop: Omit<LoopOptions, 'label'>,
  out: string,
) {
  const S = train.size,
    K = CHEXPERT_LABELS.length;
  const cfg: ImageEncoderConfig = { in_channels: 1, image_size: S, out_dim: K, groups: 8, channels: CNN_CHANNELS };
  const enc = createImageEncoder(cfg, loop.seed);
  await fitLoop([enc], train.records.length, { ...loop, label: 'classifier' }, (idx) => {
    const x = gather(train.images, S * S, idx);
    const y = enc.forward({ data: x, shape: [idx.length, 1, S, S] });
    const { loss, grad } = maskedBce(
      y.data,
      idx.map((i) => train.records[i].labels),
      K,
    );
    enc.backward({ data: grad, shape: y.shape });
    return loss;
  });
  const N = heldOut.records.length;
  const logits = predictRows(enc, heldOut.images, N, S);
  const probs = logits.map((z) => 1 / (1 + Math.exp(-z)));
  const quality = evaluateClassifier(probs, heldOut.records);
  const contract: Contract = {
    format: CONTRACT_FORMAT,
    version: 1,
    kind: 'classifier',
    description: `cxrl-native default finding classifier (compact CNN, ${S}x${S}), trained by reward fit on ${train.records.length} images`,
    input: { name: 'image', size: [S, S], channels: 1, range: [-1, 1], resize: 'shorter-side-center-crop' },
    outputs: { probabilities: 'probabilities', logits: 'logits' },
    labels: [...CHEXPERT_LABELS],
    label_map: Object.fromEntries(CHEXPERT_LABELS.map((l) => [l, l])),
  };
  writeModel(
    out,
    exportImageEncoder(enc, cfg, { raw: 'logits', sigmoid: 'probabilities' }, contract.description!),
    contract,
  );
  // Its pooled last feature map as a `features` model: the embedded default's feature space for FID.
  const featuresFile = classifierFeaturesFile(out);
  const featuresContract: Contract = {
    format: CONTRACT_FORMAT,
    version: 1,
    kind: 'features',
    description: `cxrl-native default image features for FID: the global average of the last feature map of ${path.basename(out)} (${CNN_CHANNELS[CNN_CHANNELS.length - 1]} values)`,
    input: contract.input,
    outputs: { embedding: 'embedding' },
  };
  writeModel(featuresFile, exportImageFeatures(enc, cfg, featuresContract.description!), featuresContract);
  const n = Math.min(N, 64);
  const onnxMaxError = await verifyImageModel(
    out,
    heldOut.images.subarray(0, n * S * S),
    n,
    S,
    'logits',
    logits.subarray(0, n * K),
  );
  return { quality, onnxMaxError, model: enc, config: cfg, featuresFile };
}
