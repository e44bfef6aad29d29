/** Images from a generator: sampling from prompts, conversion to 8-bit, PNG grids. */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { isGuided } from '../engine/guided-denoiser';
import { sampleDdim } from '../engine/sampler';
import { UserError } from '../util/errors';
import type { Generator } from './generator';
import { GenerationSettings, SAMPLE_GRID_SETTINGS } from './settings';

export type { GenerationSettings } from './settings';

/** The part of a Generator that sampling needs. */
export type SamplingModel = Pick<
  Generator,
  'unet' | 'scheduler' | 'imageSize' | 'channels' | 'encode' | 'encodeUnconditional'
>;

/** [-1, 1] floats of one image ([C, n] planes; C = 3 is averaged to gray) to 8-bit grayscale. */
export function toBytes(x: Float32Array, channels = 1): Uint8Array {
  const n = x.length / channels;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (let c = 0; c < channels; c++) v += x[c * n + i];
    out[i] = Math.max(0, Math.min(255, Math.round((v / channels + 1) * 127.5)));
  }
  return out;
}

/** One image per prompt (batched); returns size*size bytes per image. */
export async function generateImages(
  m: SamplingModel,
  prompts: string[],
  g: GenerationSettings,
  onStep?: (d: number, t: number) => void,
): Promise<Uint8Array[]> {
  if (m.channels !== 1 && m.channels !== 3)
    throw new UserError(
      `the UNet has ${m.channels} input channels: latent-space models need a VAE decoder, which is not supported yet (pixel-space models with 1 or 3 channels are)`,
    );
  const cond = await m.encode(prompts);
  const uncond = isGuided(g.guidanceScale) ? await m.encodeUnconditional() : null;
  const size = m.imageSize,
    C = m.channels;
  const r = await sampleDdim(m.unet, cond, uncond, {
    shape: [prompts.length, C, size, size],
    steps: g.steps,
    eta: g.eta,
    guidanceScale: g.guidanceScale,
    seed: g.seed,
    scheduler: m.scheduler,
    onStep,
  });
  const n = C * size * size;
  return prompts.map((_, i) => toBytes(r.images.subarray(i * n, (i + 1) * n), C));
}

export async function writeGrid(images: Uint8Array[], size: number, file: string, columns = 4): Promise<void> {
  const cols = Math.min(columns, images.length),
    rows = Math.ceil(images.length / cols);
  const tiles = await Promise.all(
    images.map(async (px, i) => ({
      input: await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 1 } })
        .png()
        .toBuffer(),
      left: (i % cols) * size,
      top: Math.floor(i / cols) * size,
    })),
  );
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width: cols * size, height: rows * size, channels: 3, background: '#000' } })
    .composite(tiles)
    .png()
    .toFile(file);
}

export async function writeSampleGrid(m: SamplingModel, prompts: string[], seed: number, file: string): Promise<void> {
  const imgs = await generateImages(m, prompts, { ...SAMPLE_GRID_SETTINGS, seed });
  await writeGrid(imgs, m.imageSize, file);
}
