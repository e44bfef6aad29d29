/**
 * The default posture model: the compact CNN regressing psi = (s_x, s_y, t_x, t_y, theta), the
 * affine map from an image's coordinates to canonical ones (image(q) = canonical(psi(q))). Trained
 * self-supervised, so it works on real images as well as phantoms: each training image is treated
 * as canonical, resampled with a random known psi (ops/affine_warp.h), and the network learns that
 * psi. The targets are scaled by the sampling half-widths; the export undoes the scaling and adds
 * the identity, so the ONNX output is psi itself. On a synthetic dataset the predictions for the
 * unwarped held-out images are also compared with the poses the phantoms were rendered with.
 */
import { loadAddon } from '../../engine/native';
import { createImageEncoder, ImageEncoderConfig } from '../../engine/image-encoder';
import { exportImageEncoder } from '../../onnx/export-image-encoder';
import type { Rng } from '../../util/random';
import { CONTRACT_FORMAT, Contract, PSI_ORDER } from '../contract';
import { CNN_CHANNELS, predictRows } from './classifier';
import { cropScale, FitImages, readTruthPoses, truePsi } from './data';
import { verifyImageModel, writeModel } from './export';
import { fitLoop, gather, LoopOptions } from './loop';

export const IDENTITY_PSI = [1, 1, 0, 0, 0];
/** Training transforms: psi_k uniform in identity_k +/- HALF_WIDTH_k. */
export const HALF_WIDTH = [0.2, 0.2, 0.12, 0.12, 0.2];

export function samplePsi(rng: Rng, B: number): Float32Array {
  const p = new Float32Array(5 * B);
  for (let b = 0; b < B; b++)
    for (let k = 0; k < 5; k++) p[5 * b + k] = IDENTITY_PSI[k] + HALF_WIDTH[k] * (2 * rng.uniform() - 1);
  return p;
}

/**
 * Resamples [B, S*S] images with psi. Outside the image the edge pixels are repeated rather than
 * black: black borders would tell the network "zoomed out", and it would then read every unwarped
 * (border-free) image as zoomed in.
 */
export function warp(images: Float32Array, B: number, S: number, psi: Float32Array): Float32Array {
  return loadAddon().affineWarp({
    images,
    batch: B,
    channels: 1,
    height: S,
    width: S,
    outHeight: S,
    outWidth: S,
    params: psi,
    fill: 'edge',
  });
}

export interface PostureQuality {
  /** held-out images warped with known random psi: mean |error| per parameter, and its mean */
  augmentedMae: number[];
  augmentedMaeMean: number;
  /** the same for always predicting the identity: the spread of the training transforms */
  trainingSpreadMae: number[];
  trainingSpreadMaeMean: number;
  /** synthetic data only: unwarped held-out images against their recorded poses */
  truthMae?: number[];
  truthMaeMean?: number;
  truthSpreadMaeMean?: number;
  heldOutImages: number;
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

export async function fitPosture(
  train: FitImages,
  heldOut: FitImages,
  loop: Omit<LoopOptions, 'label'>,
  out: string,
  root: string,
  evalRng: Rng,
) {
  const S = train.size,
    px = S * S;
  const cfg: ImageEncoderConfig = { in_channels: 1, image_size: S, out_dim: 5, groups: 8, channels: CNN_CHANNELS };
  const enc = createImageEncoder(cfg, loop.seed);
  await fitLoop([enc], train.records.length, { ...loop, label: 'posture' }, (idx, rng) => {
    const B = idx.length,
      psi = samplePsi(rng, B);
    const x = warp(gather(train.images, px, idx), B, S, psi);
    const y = enc.forward({ data: x, shape: [B, 1, S, S] });
    const grad = new Float32Array(y.data.length);
    let loss = 0;
    for (let i = 0; i < y.data.length; i++) {
      const target = (psi[i] - IDENTITY_PSI[i % 5]) / HALF_WIDTH[i % 5];
      const d = y.data[i] - target;
      loss += d * d;
      grad[i] = (2 * d) / y.data.length;
    }
    enc.backward({ data: grad, shape: y.shape });
    return loss / y.data.length;
  });
  const toPsi = (raw: Float32Array) => raw.map((v, i) => IDENTITY_PSI[i % 5] + HALF_WIDTH[i % 5] * v);
  const N = heldOut.records.length;
  const psiHeld = samplePsi(evalRng, N);
  const pred = toPsi(predictRows(enc, warp(heldOut.images, N, S, psiHeld), N, S));
  const err = [0, 0, 0, 0, 0],
    spread = [0, 0, 0, 0, 0];
  for (let i = 0; i < N; i++)
    for (let k = 0; k < 5; k++) {
      err[k] += Math.abs(pred[5 * i + k] - psiHeld[5 * i + k]) / N;
      spread[k] += Math.abs(psiHeld[5 * i + k] - IDENTITY_PSI[k]) / N;
    }
  const quality: PostureQuality = {
    augmentedMae: err,
    augmentedMaeMean: mean(err),
    trainingSpreadMae: spread,
    trainingSpreadMaeMean: mean(spread),
    heldOutImages: N,
  };
  const truth = readTruthPoses(root);
  if (truth) {
    const plain = toPsi(predictRows(enc, heldOut.images, N, S));
    const te = [0, 0, 0, 0, 0];
    let spreadTruth = 0,
      n = 0;
    // the typical crop of the training images defines the canonical frame
    const ks = train.records.map((r) => cropScale(r.columns, r.rows));
    const ref: [number, number] = [mean(ks.map((k) => k[0])), mean(ks.map((k) => k[1]))];
    heldOut.records.forEach((r, i) => {
      const pose = truth.get(r.dicomId);
      if (!pose) return;
      const t = truePsi(pose, r.columns, r.rows, ref);
      for (let k = 0; k < 5; k++) {
        te[k] += Math.abs(plain[5 * i + k] - t[k]);
        spreadTruth += Math.abs(t[k] - IDENTITY_PSI[k]) / 5;
      }
      n++;
    });
    if (n) {
      quality.truthMae = te.map((v) => v / n);
      quality.truthMaeMean = mean(quality.truthMae);
      quality.truthSpreadMaeMean = spreadTruth / n;
    }
  }
  const contract: Contract = {
    format: CONTRACT_FORMAT,
    version: 1,
    kind: 'posture',
    description: `cxrl-native default posture model (compact CNN, ${S}x${S}): psi maps image coordinates to canonical ones; trained on ${train.records.length} images with random known affine transforms`,
    input: { name: 'image', size: [S, S], channels: 1, range: [-1, 1], resize: 'shorter-side-center-crop' },
    outputs: { psi: 'psi' },
    psi_order: [...PSI_ORDER],
  };
  writeModel(
    out,
    exportImageEncoder(
      enc,
      cfg,
      { raw: 'psi_scaled', affine: { name: 'psi', scale: HALF_WIDTH, offset: IDENTITY_PSI } },
      contract.description!,
    ),
    contract,
  );
  const n = Math.min(N, 64);
  const onnxMaxError = await verifyImageModel(
    out,
    heldOut.images.subarray(0, n * px),
    n,
    S,
    'psi',
    toPsi(predictRows(enc, heldOut.images.subarray(0, n * px), n, S)),
  );
  return { quality, onnxMaxError };
}
