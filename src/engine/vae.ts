/**
 * The VAE of latent (Stable-Diffusion-class) pipelines: diffusers' AutoencoderKL in the engine.
 * The engine validates vae/config.json key by key (native/model/vae_config.cc, the one home of its
 * rules); this module creates it, loads weights, and reads back the settings a pipeline needs.
 */
import * as fs from 'fs';
import { UserError } from '../util/errors';
import { loadAddon, NativeVae } from './native';
import { engineCall, engineCallAsync } from './native-errors';
import type { TensorData } from './tensor';

/** What a latent pipeline needs to know about its VAE (from the engine's parsed config). */
export interface VaeSettings {
  latentChannels: number;
  /** image channels the decoder writes (3 for SD VAEs) */
  outChannels: number;
  inChannels: number;
  /** pixels per latent along a side: 2^(blocks - 1), 8 for SD */
  downscale: number;
  /** diffusion latents = raw latents * scalingFactor */
  scalingFactor: number;
}

export function createVae(configText: string, seed = 0, configFile = 'vae/config.json'): NativeVae {
  const { Vae } = loadAddon();
  return engineCall(() => new Vae(configText, seed), configFile);
}

/** Reads a diffusers vae/config.json and builds the engine's AutoencoderKL (random init until weights load). */
export function createVaeFromFile(configFile: string, seed = 0): NativeVae {
  if (!fs.existsSync(configFile)) throw new UserError(`${configFile}: no such file`);
  const text = fs.readFileSync(configFile, 'utf8');
  try {
    JSON.parse(text);
  } catch (e) {
    throw new UserError(`${configFile}: not valid JSON (${(e as Error).message})`);
  }
  return createVae(text, seed, configFile);
}

export function loadVaeWeights(vae: NativeVae, file: string): void {
  engineCall(() => vae.loadWeights(file));
}

export function vaeSettings(vae: NativeVae): VaeSettings {
  const c = JSON.parse(vae.configJson()) as {
    latent_channels: number;
    out_channels: number;
    in_channels: number;
    block_out_channels: number[];
    scaling_factor: number;
  };
  return {
    latentChannels: c.latent_channels,
    outChannels: c.out_channels,
    inChannels: c.in_channels,
    downscale: 2 ** (c.block_out_channels.length - 1),
    scalingFactor: c.scaling_factor,
  };
}

/** Diffusion latents -> decoded images in [-1, 1] (unclamped), as a pipeline does: decode(latents / scaling_factor). */
export function decodeLatents(vae: NativeVae, latents: TensorData, scalingFactor: number): Promise<TensorData> {
  const raw = latents.data.map((v) => v / scalingFactor);
  return engineCallAsync(() => vae.decodeAsync({ data: raw, shape: latents.shape }), 'vae decode');
}
