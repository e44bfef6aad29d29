/**
 * Data for fitting the default reward models: frontal images of chosen splits at the model size
 * (through the cached image pipeline), their labels and report text, and, for a synthetic dataset,
 * the recorded poses (cxrl-synthetic-truth.csv) turned into the posture target psi of each image.
 */
import * as fs from 'fs';
import * as path from 'path';
import { forEachCsvRow } from '../../data/csv';
import { cachedImageLoader } from '../../data/cache';
import { toModelRange } from '../../data/images';
import type { MimicRecord } from '../../data/mimic';
import type { Pose } from '../../data/phantom';
import { TRUTH_FILE } from '../../data/synth';
import { UserError } from '../../util/errors';

export interface FitImages {
  records: MimicRecord[];
  /** [N, S*S] in [-1, 1] */
  images: Float32Array;
  size: number;
}

/** The images of `all` (records of `root`), those that can be read; `what` names the set in errors. */
export async function loadImages(root: string, all: MimicRecord[], size: number, what: string): Promise<FitImages> {
  const loader = cachedImageLoader(root, size);
  const px = size * size,
    kept: MimicRecord[] = [],
    buf = new Float32Array(all.length * px);
  for (let i = 0; i < all.length; i++) {
    const bytes = await loader.load(all[i]);
    if (bytes) {
      toModelRange(bytes, buf, kept.length * px);
      kept.push(all[i]);
    }
  }
  if (kept.length === 0) throw new UserError(`${root}: no readable frontal images in the ${what} split`);
  return { records: kept, images: buf.slice(0, kept.length * px), size };
}

/** The recorded phantom poses of a synthetic dataset by dicom_id, or null for a real dataset. */
export function readTruthPoses(root: string): Map<string, Pose> | null {
  const file = path.join(root, TRUTH_FILE);
  if (!fs.existsSync(file)) return null;
  const poses = new Map<string, Pose>();
  forEachCsvRow(
    file,
    ['dicom_id', 'pose_scale_x', 'pose_scale_y', 'pose_shift_x', 'pose_shift_y', 'pose_rotation'],
    (get) => {
      poses.set(get('dicom_id'), {
        scaleX: +get('pose_scale_x'),
        scaleY: +get('pose_scale_y'),
        shiftX: +get('pose_shift_x'),
        shiftY: +get('pose_shift_y'),
        rotation: +get('pose_rotation'),
      });
    },
    (message, line) => {
      throw new UserError(`${file}: line ${line}: ${message}`);
    },
  );
  return poses;
}

/** The crop's axis scaling K (original normalised coordinates = K * crop coordinates). */
export function cropScale(columns: number, rows: number): [number, number] {
  return [columns > rows ? rows / columns : 1, rows > columns ? columns / rows : 1];
}

/**
 * The posture target of an image rendered with `pose` (canonical -> original image: q = S R p + t,
 * coordinates normalised per axis) after the pipeline's shorter-side centre crop, K its axis scaling:
 * the map psi from the crop's coordinates to canonical coordinates, image(q) = canonical(psi(q)),
 * where canonical is the unposed anatomy seen through the dataset's typical crop `ref` (the mean
 * K; an image cropped differently looks stretched, which is part of its pose as the model sees it):
 * psi(q) = ref^-1 R^-1 S^-1 (K q - t). Its linear part is read as S' R(theta') (row norms and the
 * mean of the two angle estimates; exact when the map is a scaled rotation).
 */
export function truePsi(pose: Pose, columns: number, rows: number, ref: [number, number]): number[] {
  const [kx, ky] = cropScale(columns, rows);
  const c = Math.cos(pose.rotation),
    s = Math.sin(pose.rotation);
  // M = R^-1 S^-1 = [[c, s], [-s, c]] diag(1/sx, 1/sy)
  const m00 = c / pose.scaleX,
    m01 = s / pose.scaleY,
    m10 = -s / pose.scaleX,
    m11 = c / pose.scaleY;
  // A = ref^-1 M K, b = -ref^-1 M t
  const a00 = (m00 * kx) / ref[0],
    a01 = (m01 * ky) / ref[0],
    a10 = (m10 * kx) / ref[1],
    a11 = (m11 * ky) / ref[1];
  const bx = -(m00 * pose.shiftX + m01 * pose.shiftY) / ref[0],
    by = -(m10 * pose.shiftX + m11 * pose.shiftY) / ref[1];
  const theta = (Math.atan2(-a01, a00) + Math.atan2(a10, a11)) / 2;
  return [Math.hypot(a00, a01), Math.hypot(a10, a11), bx, by, theta];
}
