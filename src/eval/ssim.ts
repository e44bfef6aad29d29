/**
 * SSIM and MS-SSIM of grayscale images in [0, 255] (data range 255), as scikit-image's
 * structural_similarity computes SSIM with gaussian_weights=True, sigma 1.5, truncate 3.5 (an 11-tap
 * window), use_sample_covariance=False: local statistics by separable Gaussian filtering with
 * 'reflect' borders (d c b a | a b c d | d c b a), then the mean of the SSIM map with 5 pixels cut
 * from every border. MS-SSIM (Wang, Simoncelli, Bovik 2003): contrast-structure at each scale and
 * the full SSIM at the last, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333], 2x2 mean pooling
 * between scales. Images too small for five scales use as many as fit (each scale's side must hold
 * the 11-pixel window) with the weights renormalised; negative contrast-structure values are taken
 * as 0 before the fractional powers.
 */
export const MS_SSIM_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const SIGMA = 1.5,
  RADIUS = 5,
  K1 = 0.01,
  K2 = 0.03,
  L = 255;

const KERNEL = (() => {
  const k = Array.from({ length: 2 * RADIUS + 1 }, (_, i) => Math.exp(-0.5 * ((i - RADIUS) / SIGMA) ** 2));
  const s = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / s);
})();

/** scipy.ndimage 'reflect' index: the edge pixel is repeated (half-sample symmetric). */
function reflect(i: number, n: number): number {
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

function gaussianFilter(x: Float64Array, w: number, h: number): Float64Array {
  const tmp = new Float64Array(w * h),
    out = new Float64Array(w * h);
  for (let y = 0; y < h; y++)
    for (let c = 0; c < w; c++) {
      let s = 0;
      for (let k = -RADIUS; k <= RADIUS; k++) s += KERNEL[k + RADIUS] * x[y * w + reflect(c + k, w)];
      tmp[y * w + c] = s;
    }
  for (let y = 0; y < h; y++)
    for (let c = 0; c < w; c++) {
      let s = 0;
      for (let k = -RADIUS; k <= RADIUS; k++) s += KERNEL[k + RADIUS] * tmp[reflect(y + k, h) * w + c];
      out[y * w + c] = s;
    }
  return out;
}

/** Mean SSIM and mean contrast-structure term over the interior. */
export function ssimParts(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  w: number,
  h: number,
): { ssim: number; cs: number } {
  if (w < 2 * RADIUS + 1 || h < 2 * RADIUS + 1)
    throw new Error(`SSIM needs images of at least ${2 * RADIUS + 1}x${2 * RADIUS + 1}, got ${w}x${h}`);
  const x = Float64Array.from(a),
    y = Float64Array.from(b);
  const xx = x.map((v) => v * v),
    yy = y.map((v) => v * v),
    xy = x.map((v, i) => v * y[i]);
  const [ux, uy, uxx, uyy, uxy] = [x, y, xx, yy, xy].map((m) => gaussianFilter(m, w, h));
  const C1 = (K1 * L) ** 2,
    C2 = (K2 * L) ** 2;
  let ssim = 0,
    cs = 0,
    count = 0;
  for (let r = RADIUS; r < h - RADIUS; r++)
    for (let c = RADIUS; c < w - RADIUS; c++) {
      const i = r * w + c;
      const vx = uxx[i] - ux[i] * ux[i],
        vy = uyy[i] - uy[i] * uy[i],
        vxy = uxy[i] - ux[i] * uy[i];
      const csMap = (2 * vxy + C2) / (vx + vy + C2);
      ssim += ((2 * ux[i] * uy[i] + C1) / (ux[i] * ux[i] + uy[i] * uy[i] + C1)) * csMap;
      cs += csMap;
      count++;
    }
  return { ssim: ssim / count, cs: cs / count };
}

export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, w: number, h: number): number {
  return ssimParts(a, b, w, h).ssim;
}

type Plane = { x: Float64Array; w: number; h: number };

function pool2(x: Float64Array, w: number, h: number): Plane {
  const w2 = Math.floor(w / 2),
    h2 = Math.floor(h / 2),
    out = new Float64Array(w2 * h2);
  for (let r = 0; r < h2; r++)
    for (let c = 0; c < w2; c++)
      out[r * w2 + c] =
        (x[2 * r * w + 2 * c] +
          x[2 * r * w + 2 * c + 1] +
          x[(2 * r + 1) * w + 2 * c] +
          x[(2 * r + 1) * w + 2 * c + 1]) /
        4;
  return { x: out, w: w2, h: h2 };
}

/** How many MS-SSIM scales an image of w x h holds (at most 5), and their renormalised weights. */
export function msssimScales(w: number, h: number): number[] {
  let m = 0;
  for (let s = Math.min(w, h); m < MS_SSIM_WEIGHTS.length && s >= 2 * RADIUS + 1; s = Math.floor(s / 2)) m++;
  if (m === 0) throw new Error(`MS-SSIM needs images of at least ${2 * RADIUS + 1}x${2 * RADIUS + 1}, got ${w}x${h}`);
  const used = MS_SSIM_WEIGHTS.slice(0, m),
    sum = used.reduce((a, b) => a + b, 0);
  return used.map((v) => v / sum);
}

export function msssim(a: ArrayLike<number>, b: ArrayLike<number>, w: number, h: number): number {
  const weights = msssimScales(w, h);
  let x: Plane = { x: Float64Array.from(a), w, h },
    y: Plane = { x: Float64Array.from(b), w, h };
  let result = 1;
  weights.forEach((wt, j) => {
    const p = ssimParts(x.x, y.x, x.w, x.h);
    result *= Math.max(j === weights.length - 1 ? p.ssim : p.cs, 0) ** wt;
    if (j < weights.length - 1) {
      x = pool2(x.x, x.w, x.h);
      y = pool2(y.x, y.w, y.h);
    }
  });
  return result;
}
