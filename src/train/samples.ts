/** Images from the generator: sampling from prompts, conversion to 8-bit, PNG grids. */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { NativeUNet } from '../engine/native';
import { sampleDdim } from '../engine/sampler';
import type { SchedulerConfig } from '../engine/scheduler';
import { encodeTexts, NativeTextEncoder } from '../engine/text-encoder';
import type { WordTokenizer } from '../text/tokenizer';

export interface GenerationSettings {
  steps: number;
  eta: number;
  guidanceScale: number;
  seed: number;
}

/** [-1, 1] floats of one image to 8-bit grayscale. */
export function toBytes(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((x[i] + 1) * 127.5)));
  return out;
}

/** One image per prompt (batched); returns size*size bytes per image. */
export async function generateImages(unet: NativeUNet, text: NativeTextEncoder, tok: WordTokenizer, scheduler: SchedulerConfig, prompts: string[],
  size: number, textLength: number, g: GenerationSettings, onStep?: (d: number, t: number) => void): Promise<Uint8Array[]> {
  const cond = encodeTexts(text, tok, prompts, textLength);
  const uncond = encodeTexts(text, tok, [''], textLength);
  const r = await sampleDdim(unet, cond, g.guidanceScale !== 1 ? uncond : null, {
    shape: [prompts.length, 1, size, size], steps: g.steps, eta: g.eta, guidanceScale: g.guidanceScale, seed: g.seed, scheduler, onStep,
  });
  const n = size * size;
  return prompts.map((_, i) => toBytes(r.images.subarray(i * n, (i + 1) * n)));
}

export async function writeGrid(images: Uint8Array[], size: number, file: string, columns = 4): Promise<void> {
  const cols = Math.min(columns, images.length), rows = Math.ceil(images.length / cols);
  const tiles = await Promise.all(images.map(async (px, i) => ({
    input: await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 1 } }).png().toBuffer(),
    left: (i % cols) * size, top: Math.floor(i / cols) * size,
  })));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width: cols * size, height: rows * size, channels: 3, background: '#000' } }).composite(tiles).png().toFile(file);
}

export async function writeSampleGrid(unet: NativeUNet, text: NativeTextEncoder, tok: WordTokenizer, scheduler: SchedulerConfig, prompts: string[],
  s: { imageSize: number; textLength: number; seed: number }, file: string): Promise<void> {
  const imgs = await generateImages(unet, text, tok, scheduler, prompts, s.imageSize, s.textLength, { steps: 20, eta: 0, guidanceScale: 3, seed: s.seed });
  await writeGrid(imgs, s.imageSize, file);
}
