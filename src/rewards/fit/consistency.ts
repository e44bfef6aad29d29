/**
 * The default report-image consistency model: a dual encoder, the compact CNN for images and the
 * built-in text encoder with masked mean pooling for reports, trained contrastively (symmetric
 * InfoNCE over the batch, cosine similarities at temperature TAU). Each step pairs an image with
 * its report's impression or findings, at random, so both kinds of text embed well. Quality:
 * report-to-image recall@1 among 100 held-out studies (one image each; chance is 1%).
 */
import * as path from 'path';
import type { MimicRecord } from '../../data/mimic';
import { createImageEncoder, ImageEncoderConfig } from '../../engine/image-encoder';
import { createTextEncoder, NativeTextEncoder, TextEncoderConfig } from '../../engine/text-encoder';
import { exportImageEncoder } from '../../onnx/export-image-encoder';
import { exportTextTower } from '../../onnx/export-text-encoder';
import { WordTokenizer } from '../../text/tokenizer';
import { CONTRACT_FORMAT, Contract } from '../contract';
import { recallAtK } from '../metrics';
import { cosine } from '../scores';
import { CNN_CHANNELS, predictRows } from './classifier';
import type { FitImages } from './data';
import { verifyImageModel, verifyTextModel, writeModel } from './export';
import { fitLoop, gather, LoopOptions } from './loop';

export const TAU = 0.1;
export const EMBED_DIM = 64;
export const TEXT_LENGTH = 64;

/** Masked mean of token embeddings [B, L, D] -> [B, D]. */
export function meanPool(tokens: Float32Array, mask: Float32Array, B: number, L: number, D: number): Float32Array {
  const out = new Float32Array(B * D);
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let t = 0; t < L; t++)
      if (mask[b * L + t]) {
        n++;
        for (let d = 0; d < D; d++) out[b * D + d] += tokens[(b * L + t) * D + d];
      }
    for (let d = 0; d < D; d++) out[b * D + d] /= Math.max(1, n);
  }
  return out;
}

export function meanPoolBackward(g: Float32Array, mask: Float32Array, B: number, L: number, D: number): Float32Array {
  const out = new Float32Array(B * L * D);
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let t = 0; t < L; t++) if (mask[b * L + t]) n++;
    for (let t = 0; t < L; t++)
      if (mask[b * L + t]) for (let d = 0; d < D; d++) out[(b * L + t) * D + d] = g[b * D + d] / Math.max(1, n);
  }
  return out;
}

/** Symmetric InfoNCE on raw embeddings a (images) and b (texts), [B, D] each: loss and gradients. */
export function infoNce(
  a: Float32Array,
  b: Float32Array,
  B: number,
  D: number,
  tau = TAU,
): { loss: number; ga: Float32Array; gb: Float32Array } {
  const unit = (x: Float32Array) => {
    const u = new Float32Array(x.length),
      norms = new Float64Array(B);
    for (let i = 0; i < B; i++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += x[i * D + d] ** 2;
      norms[i] = Math.sqrt(s) + 1e-12;
      for (let d = 0; d < D; d++) u[i * D + d] = x[i * D + d] / norms[i];
    }
    return { u, norms };
  };
  const A = unit(a),
    T = unit(b);
  const logits = new Float64Array(B * B);
  for (let i = 0; i < B; i++)
    for (let j = 0; j < B; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += A.u[i * D + d] * T.u[j * D + d];
      logits[i * B + j] = s / tau;
    }
  const dlog = new Float64Array(B * B);
  let loss = 0;
  // rows: image i -> texts; columns: text j -> images
  for (const byRow of [true, false]) {
    for (let i = 0; i < B; i++) {
      const at = (j: number) => (byRow ? logits[i * B + j] : logits[j * B + i]);
      let mx = -Infinity;
      for (let j = 0; j < B; j++) mx = Math.max(mx, at(j));
      let z = 0;
      for (let j = 0; j < B; j++) z += Math.exp(at(j) - mx);
      loss += (mx + Math.log(z) - at(i)) / (2 * B);
      for (let j = 0; j < B; j++) {
        const g = (Math.exp(at(j) - mx) / z - (i === j ? 1 : 0)) / (2 * B);
        if (byRow) dlog[i * B + j] += g;
        else dlog[j * B + i] += g;
      }
    }
  }
  const back = (own: { u: Float32Array; norms: Float64Array }, other: Float32Array, rows: boolean) => {
    const g = new Float32Array(B * D);
    for (let i = 0; i < B; i++) {
      const du = new Float64Array(D);
      for (let j = 0; j < B; j++) {
        const w = (rows ? dlog[i * B + j] : dlog[j * B + i]) / tau;
        for (let d = 0; d < D; d++) du[d] += w * other[j * D + d];
      }
      let dot = 0;
      for (let d = 0; d < D; d++) dot += du[d] * own.u[i * D + d];
      for (let d = 0; d < D; d++) g[i * D + d] = (du[d] - own.u[i * D + d] * dot) / own.norms[i];
    }
    return g;
  };
  return { loss, ga: back(A, T.u, true), gb: back(T, A.u, false) };
}

function embedTexts(enc: NativeTextEncoder, tok: WordTokenizer, texts: string[], L: number, D: number): Float32Array {
  const out = new Float32Array(texts.length * D);
  for (let s = 0; s < texts.length; s += 64) {
    const part = texts.slice(s, s + 64);
    const { ids, mask } = tok.encodeBatch(part, L);
    const tokens = enc.forward({ ids, shape: [part.length, L], mask });
    out.set(meanPool(tokens.data, mask, part.length, L, D), s * D);
  }
  return out;
}

/** Recall@1 (report -> image) averaged over consecutive groups of `group` held-out studies. */
export function groupedRecall(img: Float32Array, txt: Float32Array, N: number, D: number, group = 100): number {
  const groups = Math.floor(N / group);
  let sum = 0;
  for (let g = 0; g < groups; g++) {
    const sim = new Float64Array(group * group);
    for (let i = 0; i < group; i++)
      for (let j = 0; j < group; j++)
        sim[i * group + j] = cosine(txt, (g * group + i) * D, img, (g * group + j) * D, D);
    sum += recallAtK(sim, group, 1);
  }
  return groups ? sum / groups : NaN;
}

export interface ConsistencyQuality {
  recallAt1Findings: number;
  recallAt1Impression: number;
  chance: number;
  heldOutStudies: number;
}

/** One image per study. */
function firstPerStudy(records: MimicRecord[]): number[] {
  const seen = new Set<string>(),
    idx: number[] = [];
  records.forEach((r, i) => {
    if (!seen.has(r.studyId)) {
      seen.add(r.studyId);
      idx.push(i);
    }
  });
  return idx;
}

export async function fitConsistency(
  train: FitImages,
  heldOut: FitImages,
  impressionOf: Map<string, string>,
  loop: Omit<LoopOptions, 'label'>,
  out: string,
) {
  const S = train.size,
    px = S * S,
    D = EMBED_DIM,
    L = TEXT_LENGTH;
  const texts = (r: MimicRecord) => [r.text, impressionOf.get(r.studyId) ?? r.text];
  const tok = WordTokenizer.build(train.records.flatMap(texts), { minCount: 2 });
  const imgCfg: ImageEncoderConfig = { in_channels: 1, image_size: S, out_dim: D, groups: 8, channels: CNN_CHANNELS };
  const txtCfg: TextEncoderConfig = { vocab_size: tok.size, max_length: L, width: D, layers: 2, heads: 4 };
  const img = createImageEncoder(imgCfg, loop.seed),
    txt = createTextEncoder(txtCfg, loop.seed + 1);
  await fitLoop([img, txt], train.records.length, { ...loop, label: 'consistency' }, (idx, rng) => {
    const B = idx.length;
    const ia = img.forward({ data: gather(train.images, px, idx), shape: [B, 1, S, S] });
    const chosen = idx.map((i) => texts(train.records[i])[rng.uniform() < 0.5 ? 0 : 1]);
    const { ids, mask } = tok.encodeBatch(chosen, L);
    const tokens = txt.forward({ ids, shape: [B, L], mask });
    const { loss, ga, gb } = infoNce(ia.data, meanPool(tokens.data, mask, B, L, D), B, D);
    img.backward({ data: ga, shape: ia.shape });
    txt.backward({ data: meanPoolBackward(gb, mask, B, L, D), shape: [B, L, D] });
    return loss;
  });
  const keep = firstPerStudy(heldOut.records),
    N = keep.length;
  const heldImages = gather(heldOut.images, px, keep),
    heldRecs = keep.map((i) => heldOut.records[i]);
  const imgEmb = predictRows(img, heldImages, N, S);
  const findings = embedTexts(
    txt,
    tok,
    heldRecs.map((r) => r.text),
    L,
    D,
  );
  const impressions = embedTexts(
    txt,
    tok,
    heldRecs.map((r) => impressionOf.get(r.studyId) ?? r.text),
    L,
    D,
  );
  const quality: ConsistencyQuality = {
    recallAt1Findings: groupedRecall(imgEmb, findings, N, D),
    recallAt1Impression: groupedRecall(imgEmb, impressions, N, D),
    chance: 0.01,
    heldOutStudies: N,
  };
  const base = out.replace(/\.onnx$/, '');
  const textFile = `${base}-text.onnx`,
    tokFile = `${base}-text.tokenizer.json`;
  tok.save(tokFile);
  const textContract: Contract = {
    format: CONTRACT_FORMAT,
    version: 1,
    kind: 'consistency-text',
    description: `cxrl-native default report encoder of the consistency dual encoder (built-in text encoder, masked mean; ${L} tokens)`,
    text: {
      tokenizer: 'cxrl-word',
      tokenizer_path: path.basename(tokFile),
      length: L,
      ids_input: 'input_ids',
      mask_input: 'attention_mask',
    },
    outputs: { embedding: 'embedding' },
  };
  writeModel(textFile, exportTextTower(txt, txtCfg, L, textContract.description!), textContract);
  const imageContract: Contract = {
    format: CONTRACT_FORMAT,
    version: 1,
    kind: 'consistency-image',
    description: `cxrl-native default image encoder of the consistency dual encoder (compact CNN, ${S}x${S}); score = cosine with ${path.basename(textFile)}`,
    input: { name: 'image', size: [S, S], channels: 1, range: [-1, 1], resize: 'shorter-side-center-crop' },
    outputs: { embedding: 'embedding' },
    pair: path.basename(textFile),
  };
  writeModel(out, exportImageEncoder(img, imgCfg, { raw: 'embedding' }, imageContract.description!), imageContract);
  const n = Math.min(N, 64);
  const onnxMaxError = Math.max(
    await verifyImageModel(out, heldImages.subarray(0, n * px), n, S, 'embedding', imgEmb.subarray(0, n * D)),
    await verifyTextModel(
      textFile,
      heldRecs.slice(0, n).map((r) => r.text),
      findings.subarray(0, n * D),
    ),
  );
  return { quality, onnxMaxError, textFile };
}
