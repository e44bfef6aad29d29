/** Images from a generator: sampling from prompts, conversion to 8-bit, PNG grids. */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { isGuided } from '../engine/guidance';
import { sampleDdim } from '../engine/sampler';
import type { Generator } from './generator';
import { GenerationSettings, SAMPLE_GRID_SETTINGS } from './settings';

export type { GenerationSettings } from './settings';

/** The part of a Generator that sampling needs. */
export type SamplingModel = Pick<Generator, 'unet' | 'scheduler' | 'decoder' | 'encode' | 'encodeUnconditional'>;

/** A radiograph's [-1, 1] floats to 8-bit grayscale (clamped). */
export function toBytes(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((x[i] + 1) * 127.5)));
  return out;
}

/** One radiograph per prompt (batched; latents decoded by the VAE); returns size*size bytes per image. */
export async function generateImages(
  m: SamplingModel,
  prompts: string[],
  g: GenerationSettings,
  onStep?: (d: number, t: number) => void,
): Promise<Uint8Array[]> {
  const cond = await m.encode(prompts);
  const uncond = isGuided(g.guidanceScale) ? await m.encodeUnconditional() : null;
  const r = await sampleDdim(m.unet, cond, uncond, {
    shape: [prompts.length, ...m.decoder.sampleShape],
    steps: g.steps,
    eta: g.eta,
    guidanceScale: g.guidanceScale,
    seed: g.seed,
    scheduler: m.scheduler,
    onStep,
  });
  const gray = await m.decoder.toGray(r.images, prompts.length);
  const n = m.decoder.height * m.decoder.width;
  return prompts.map((_, i) => toBytes(gray.subarray(i * n, (i + 1) * n)));
}

/** Radiographs of height x width bytes each, `columns` to a row. */
export async function writeGrid(
  images: Uint8Array[],
  height: number,
  width: number,
  file: string,
  columns = 4,
): Promise<void> {
  const cols = Math.min(columns, images.length),
    rows = Math.ceil(images.length / cols);
  const tiles = await Promise.all(
    images.map(async (px, i) => ({
      input: await sharp(Buffer.from(px), { raw: { width, height, channels: 1 } })
        .png()
        .toBuffer(),
      left: (i % cols) * width,
      top: Math.floor(i / cols) * height,
    })),
  );
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width: cols * width, height: rows * height, channels: 3, background: '#000' } })
    .composite(tiles)
    .png()
    .toFile(file);
}

export async function writeSampleGrid(m: SamplingModel, prompts: string[], seed: number, file: string): Promise<void> {
  const imgs = await generateImages(m, prompts, { ...SAMPLE_GRID_SETTINGS, seed });
  await writeGrid(imgs, m.decoder.height, m.decoder.width, file);
}
