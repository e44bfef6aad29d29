/**
 * Measurements on chest radiographs in the phantom's canonical frame (given the pose that placed
 * the anatomy in the image): the cardiothoracic ratio (widest cardiac silhouette over the width
 * between the outer lung edges, from horizontal intensity profiles, as a radiologist measures it)
 * and the mean brightness of the lower lateral lung zones (pleural fluid raises it).
 */
import type { Pose } from './phantom';

export const IDENTITY_POSE: Pose = { scaleX: 1, scaleY: 1, shiftX: 0, shiftY: 0, rotation: 0 };

/** Bilinear sample of the image at canonical point (u, v). */
export function canonicalSampler(px: Uint8Array, w: number, h: number, pose: Pose = IDENTITY_POSE): (u: number, v: number) => number {
  const c = Math.cos(pose.rotation), s = Math.sin(pose.rotation);
  return (u, v) => {
    const qx = pose.scaleX * (c * u - s * v) + pose.shiftX;
    const qy = pose.scaleY * (s * u + c * v) + pose.shiftY;
    const x = Math.min(w - 1.001, Math.max(0, ((qx + 1) * w) / 2 - 0.5));
    const y = Math.min(h - 1.001, Math.max(0, ((qy + 1) * h) / 2 - 0.5));
    const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
    const at = (i: number, j: number) => px[j * w + i];
    return (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
  };
}

function profile(sample: (u: number, v: number) => number, v: number, n: number): number[] {
  const raw = Array.from({ length: n }, (_, i) => sample(-1 + (2 * i) / (n - 1), v));
  return raw.map((_, i) => {
    let acc = 0, k = 0;
    for (let d = -3; d <= 3; d++) if (raw[i + d] !== undefined) { acc += raw[i + d]; k++; }
    return acc / k;
  });
}

/** Cardiothoracic ratio; NaN when no lungs are found on the measured rows. */
export function cardiothoracicRatio(px: Uint8Array, w: number, h: number, pose: Pose = IDENTITY_POSE): number {
  const sample = canonicalSampler(px, w, h, pose);
  const n = 401, ucoord = (i: number) => -1 + (2 * i) / (n - 1);
  let thorax = 0, heart = 0;
  for (let v = 0.22; v <= 0.441; v += 0.02) {
    const p = profile(sample, v, n);
    const inner = p.filter((_, i) => Math.abs(ucoord(i)) < 0.85).sort((a, b) => a - b);
    // Lungs are the darkest tissue; lateral soft tissue sits between them and the heart, so the
    // threshold is a third of the way from the dark to the bright end of the profile.
    const lo10 = inner[Math.floor(inner.length * 0.1)], hi90 = inner[Math.floor(inner.length * 0.9)];
    const threshold = lo10 + 0.33 * (hi90 - lo10);
    const dark = p.map((x, i) => x < threshold && Math.abs(ucoord(i)) < 0.85);
    const first = dark.indexOf(true), last = dark.lastIndexOf(true);
    if (first < 0 || last <= first) continue;
    thorax = Math.max(thorax, ucoord(last) - ucoord(first));
    // Cardiac silhouette: the bright run around the midline, between the two lungs.
    const mid = Math.round(((0.06 + 1) * (n - 1)) / 2);
    let lo = mid, hi = mid;
    while (lo > first && !dark[lo - 1]) lo--;
    while (hi < last && !dark[hi + 1]) hi++;
    heart = Math.max(heart, ucoord(hi) - ucoord(lo));
  }
  return thorax > 0 ? heart / thorax : NaN;
}

/** Mean brightness (0-255) of both lower lateral lung zones. */
export function lowerZoneBrightness(px: Uint8Array, w: number, h: number, pose: Pose = IDENTITY_POSE): number {
  const sample = canonicalSampler(px, w, h, pose);
  let acc = 0, k = 0;
  for (const u0 of [-0.55, 0.55])
    for (let v = 0.36; v <= 0.5; v += 0.02)
      for (let du = -0.06; du <= 0.06; du += 0.02) { acc += sample(u0 + du, v); k++; }
  return acc / k;
}
