/**
 * `cxrl-native generate`: images for prompts x n, written batch by batch as they are done (memory
 * is bounded by the batch, not the prompt count), each with a JSON sidecar of its settings. A
 * non-empty output folder is refused unless --overwrite (replace) or --resume (keep the images whose
 * sidecars hold the same settings and make the rest). Batch c of --batch-size images uses seed + c,
 * so an image depends only on (seed, batch size, its position), not on which run made it.
 */
import { Precision, configureEngine } from '../engine/device';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { OrtDevice } from '../onnx/runtime';
import { UserError } from '../util/errors';
import { Progress } from '../util/progress';
import { fileSha256, loadGenerator } from './generator';
import { generateImages, writeGrid } from './sampling';
import type { GenerationSettings } from './settings';

export interface GenerateArgs {
  checkpoint: string;
  textEncoder?: string;
  tokenizer?: string;
  device: OrtDevice;
  /** the device GEMMs' precision (src/engine/device.ts) */
  precision: Precision;
  useEma: boolean;
  prompts: string[];
  n: number;
  settings: GenerationSettings;
  batchSize: number;
  format: 'png' | 'jpeg';
  out: string;
  grid: boolean;
  overwrite: boolean;
  resume: boolean;
  /** image size in pixels; default: the model's (UNet sample_size, times 8 through an SD VAE) */
  height?: number;
  width?: number;
}

/** The sidecar fields that must match for --resume to keep an existing image. */
const SAME_SETTINGS = [
  'prompt',
  'seed',
  'noise_stream',
  'batch_size',
  'steps',
  'eta',
  'guidance_scale',
  'height',
  'width',
  'weights_sha256',
  'vae_weights_sha256',
  'lora_sha256',
] as const;

function existingMatches(file: string, sidecar: Record<string, unknown>, image: string): boolean {
  if (!fs.existsSync(file) || !fs.existsSync(image)) return false;
  try {
    const old = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    return SAME_SETTINGS.every((k) => JSON.stringify(old[k]) === JSON.stringify(sidecar[k]));
  } catch {
    return false;
  }
}

export async function runGenerate(a: GenerateArgs): Promise<void> {
  configureEngine(a.precision, a.device);
  if (fs.existsSync(a.out) && fs.readdirSync(a.out).length > 0 && !a.overwrite && !a.resume) {
    throw new UserError(
      `${a.out} is not empty: add --resume to continue it, --overwrite to replace it, or choose another --out (nothing was written)`,
    );
  }
  const loaded = await loadGenerator(a.checkpoint, {
    textEncoder: a.textEncoder,
    tokenizer: a.tokenizer,
    device: a.device,
    useEma: a.useEma,
  });
  const gen =
    a.height !== undefined || a.width !== undefined
      ? {
          ...loaded,
          decoder: loaded.decoder.resized(a.height ?? loaded.decoder.height, a.width ?? loaded.decoder.width),
        }
      : loaded;
  const g = a.settings,
    { height, width } = gen.decoder,
    ext = a.format === 'jpeg' ? 'jpg' : 'png';
  const cut = a.prompts.map((p) => gen.promptTokens(p)).filter((n) => n > gen.maxPromptTokens);
  if (cut.length)
    console.error(
      `generate: ${cut.length} of ${a.prompts.length} prompts are longer than the text encoder's ${gen.maxPromptTokens} tokens and are cut to them (the longest has ${Math.max(...cut)})`,
    );
  const hash = fileSha256(gen.weightsFile),
    vaeHash = gen.vaeWeightsFile ? fileSha256(gen.vaeWeightsFile) : undefined,
    loraHash = gen.loraFile ? fileSha256(gen.loraFile) : undefined;
  const total = a.prompts.length * a.n,
    chunks = Math.ceil(total / a.batchSize);
  const name = (i: number) => `${Math.floor(i / a.n)}-${i % a.n}`;
  const sidecarOf = (i: number) => ({
    prompt: a.prompts[Math.floor(i / a.n)],
    prompt_index: Math.floor(i / a.n),
    sample_index: i % a.n,
    seed: g.seed + Math.floor(i / a.batchSize),
    noise_stream: i % a.batchSize,
    batch_size: a.batchSize,
    steps: g.steps,
    eta: g.eta,
    guidance_scale: g.guidanceScale,
    height,
    width,
    checkpoint: path.resolve(a.checkpoint),
    model_kind: gen.kind,
    weights: path.basename(gen.weightsFile),
    weights_sha256: hash,
    ...(gen.loraFile ? { lora: path.basename(gen.loraFile), lora_sha256: loraHash } : {}),
    ...(gen.vaeWeightsFile
      ? { vae_weights: path.relative(a.checkpoint, gen.vaeWeightsFile), vae_weights_sha256: vaeHash }
      : {}),
    step: gen.step,
    ace_tokens: gen.aceTokens ?? 0,
    scheduler: gen.scheduler,
    device: gen.unet.device(), // where the UNet ran, and the precision of the device's products
    precision: a.precision,
  });
  fs.mkdirSync(a.out, { recursive: true });
  const todo = Array.from({ length: chunks }, (_, c) => c).filter((c) => {
    if (!a.resume) return true;
    for (let i = c * a.batchSize; i < Math.min(total, (c + 1) * a.batchSize); i++) {
      if (!existingMatches(path.join(a.out, `${name(i)}.json`), sidecarOf(i), path.join(a.out, `${name(i)}.${ext}`)))
        return true;
    }
    return false;
  });
  if (a.resume && todo.length < chunks)
    console.error(
      `generate: ${chunks - todo.length} of ${chunks} batches already in ${a.out} with the same settings; kept`,
    );
  const bar = new Progress('generate', todo.length * g.steps, 'steps');
  for (const [k, c] of todo.entries()) {
    const first = c * a.batchSize;
    const part = Array.from(
      { length: Math.min(a.batchSize, total - first) },
      (_, j) => a.prompts[Math.floor((first + j) / a.n)],
    );
    const images = await generateImages(gen, part, { ...g, seed: g.seed + c }, (d) => bar.update(k * g.steps + d));
    for (const [j, px] of images.entries()) {
      const i = first + j;
      const img = sharp(Buffer.from(px), { raw: { width, height, channels: 1 } }).toColourspace('b-w');
      await (a.format === 'jpeg' ? img.jpeg({ quality: 95 }) : img.png()).toFile(path.join(a.out, `${name(i)}.${ext}`));
      fs.writeFileSync(path.join(a.out, `${name(i)}.json`), JSON.stringify(sidecarOf(i), null, 2) + '\n');
    }
  }
  if (a.grid) {
    const all: Uint8Array[] = [];
    for (let i = 0; i < total; i++) {
      const { data } = await sharp(path.join(a.out, `${name(i)}.${ext}`))
        .grayscale()
        .raw()
        .toBuffer({ resolveWithObject: true });
      all.push(new Uint8Array(data));
    }
    await writeGrid(all, height, width, path.join(a.out, 'grid.png'), a.n > 1 ? a.n : 4);
  }
  console.log(`generate: ${total} images (${width}x${height}) -> ${a.out}`);
}
