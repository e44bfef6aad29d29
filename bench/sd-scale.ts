/**
 * The paper's setting at full size on this CPU: a Stable-Diffusion-v1.x-sized UNet (859.5 M
 * parameters) and VAE (83.7 M), built from the published configs in test/reference, their weights
 * loaded from safetensors, one guided denoising step over a 64x64 latent ([uncond; cond], 77 CLIP
 * tokens of width 768, inference mode) and one VAE decode to 512x512. Prints time and peak resident
 * memory after each stage. Random weights (no model hub here): the cost does not depend on them.
 *
 * usage: node dist/bench/sd-scale.js prepare DIR   (writes DIR/unet.safetensors, DIR/vae.safetensors: 3.8 GB)
 *        node dist/bench/sd-scale.js run DIR       (a fresh process, so peak memory is this run's)
 */
import * as fs from 'fs';
import * as path from 'path';
import { createUNet, loadUNetWeights } from '../src/engine/unet';
import { readUNetConfig } from '../src/engine/unet-config';
import { createVaeFromFile, loadVaeWeights } from '../src/engine/vae';
import { Rng } from '../src/util/random';

const REF = path.join(__dirname, '..', '..', 'test', 'reference');
const UNET_CONFIG = path.join(REF, 'sd-v1-unet-config.json'),
  VAE_CONFIG = path.join(REF, 'sd-v1-vae-config.json');

function memory(): { rssGiB: number; peakGiB: number } {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rssGiB: +(kb('VmRSS') / 2 ** 20).toFixed(2), peakGiB: +(kb('VmHWM') / 2 ** 20).toFixed(2) };
}

async function timed<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ stage: what, seconds: +s.toFixed(2), ...memory() }));
  return r;
}

async function main(): Promise<void> {
  const [mode, dir] = process.argv.slice(2);
  if (!dir || (mode !== 'prepare' && mode !== 'run')) throw new Error('usage: sd-scale.js prepare|run DIR');
  const unetFile = path.join(dir, 'unet.safetensors'),
    vaeFile = path.join(dir, 'vae.safetensors');
  if (mode === 'prepare') {
    fs.mkdirSync(dir, { recursive: true });
    createUNet(readUNetConfig(UNET_CONFIG), 1, UNET_CONFIG).saveWeights(unetFile);
    createVaeFromFile(VAE_CONFIG, 2).saveWeights(vaeFile);
    return;
  }
  const unet = await timed('unet: build (random init)', () => createUNet(readUNetConfig(UNET_CONFIG), 0, UNET_CONFIG));
  await timed('unet: load weights', () => loadUNetWeights(unet, unetFile));
  const rng = new Rng(3);
  const B = 2, // [uncond; cond]
    L = 77,
    D = 768;
  const sample = { data: rng.normals(B * 4 * 64 * 64), shape: [B, 4, 64, 64] };
  const input = {
    sample,
    timestep: { data: new Float32Array(B).fill(500), shape: [B] },
    encoderHiddenStates: { data: rng.normals(B * L * D), shape: [B, L, D] },
    inference: true,
  };
  const eps = await timed('unet: one guided step (batch 2, 64x64 latent, inference)', () => unet.forwardAsync(input));
  await timed('unet: a second guided step', () => unet.forwardAsync(input));
  const vae = await timed('vae: build (random init)', () => createVaeFromFile(VAE_CONFIG));
  await timed('vae: load weights', () => loadVaeWeights(vae, vaeFile));
  await timed('vae: decode one 64x64 latent to 512x512', () =>
    vae.decodeAsync({ data: eps.data.subarray(0, 4 * 64 * 64), shape: [1, 4, 64, 64] }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
