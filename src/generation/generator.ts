/**
 * What `generate` (and later the RL stage) samples from: a UNet, its scheduler, and a way to turn
 * prompts into cross-attention conditioning. Three sources:
 * - a checkpoint made here (train --stage pretrain): built-in text encoder and word tokenizer,
 *   the EMA weights when the checkpoint has them, ACE tokens (ace.safetensors) when present;
 * - a diffusers pipeline folder: unet/ (config.json + diffusion_pytorch_model[.fp16].safetensors),
 *   scheduler/scheduler_config.json, text_encoder/model.onnx and tokenizer/ (CLIP BPE files), and
 *   for a latent (Stable-Diffusion-class) pipeline vae/ (AutoencoderKL config.json + weights);
 * - a diffusers UNet folder alone, with --text-encoder FILE.onnx and --tokenizer DIR.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { NativeUNet } from '../engine/native';
import type { Conditioning } from '../engine/guidance';
import type { SchedulerConfig } from '../engine/scheduler';
import { encodeTexts } from '../engine/text-encoder';
import { DeviceChoice, placeModel } from '../engine/device';
import { createUNet, loadUNetWeights } from '../engine/unet';
import { readUNetConfig, UNetConfig, unetMultiple } from '../engine/unet-config';
import { createVaeFromFile, loadVaeWeights, vaeSettings } from '../engine/vae';
import { LORA_FILE, loadLora } from '../engine/lora';
import { readSafetensors, requireTensor } from '../io/safetensors';
import type { OrtDevice } from '../onnx/runtime';
import { loadCheckpointModels, readJson } from '../train/checkpoint';
import { UserError } from '../util/errors';
import { readDiffusersScheduler } from './diffusers-scheduler';
import { OnnxTextEncoder } from './onnx-text-encoder';
import { SampleDecoder, unetPixelDecoder, vaeDecoder } from './sample-decoder';

export interface Generator {
  kind: 'cxrl-checkpoint' | 'diffusers';
  unet: NativeUNet;
  scheduler: SchedulerConfig;
  /** what the UNet samples and how samples become radiographs (pixels, or latents through the VAE) */
  decoder: SampleDecoder;
  /** the weights file the UNet came from (hashed into every sidecar) */
  weightsFile: string;
  /** a latent pipeline's VAE weights (hashed into every sidecar too) */
  vaeWeightsFile?: string;
  /** LoRA adapters applied over the UNet's weights (pytorch_lora_weights.safetensors; hashed too) */
  loraFile?: string;
  /** prompts -> conditioning (with ACE tokens appended when the checkpoint has them) */
  encode(prompts: string[]): Promise<Conditioning>;
  /** the empty prompt, padded to the same token count as encode()'s output */
  encodeUnconditional(): Promise<Conditioning>;
  /** prompts -> the text encoder's tokens alone (no ACE): what the RL stage's anchor sees */
  encodeText(prompts: string[]): Promise<Conditioning>;
  /** the checkpoint's ACE tokens [count, width], when it has them */
  ace?: { tokens: Float32Array; count: number };
  /** tokens of a prompt before truncation, and the most the text encoder reads */
  promptTokens(prompt: string): number;
  maxPromptTokens: number;
  /** training step of a checkpoint made here */
  step?: number;
  aceTokens?: number;
}

export interface GeneratorOptions {
  textEncoder?: string;
  tokenizer?: string;
  /** where the UNet runs (src/engine/device.ts) and the ONNX text encoder's provider */
  device?: OrtDevice;
  /** a checkpoint made here: sample with the EMA weights when present (default true) */
  useEma?: boolean;
}

/** Appends K ACE tokens ([K, D]) after the prompt tokens (mask 1); `pad` appends K masked zeros instead. */
export function appendTokens(c: Conditioning, ace: Float32Array, K: number, pad: boolean): Conditioning {
  const [B, L, D] = c.context.shape;
  if (ace.length !== K * D) throw new UserError(`ACE tokens have width ${ace.length / K}, the text encoder ${D}`);
  const ctx = new Float32Array(B * (L + K) * D),
    mask = new Float32Array(B * (L + K));
  for (let b = 0; b < B; b++) {
    ctx.set(c.context.data.subarray(b * L * D, (b + 1) * L * D), b * (L + K) * D);
    if (!pad) ctx.set(ace, (b * (L + K) + L) * D);
    mask.set(c.mask.data.subarray(b * L, (b + 1) * L), b * (L + K));
    if (!pad) mask.fill(1, b * (L + K) + L, (b + 1) * (L + K));
  }
  return { context: { data: ctx, shape: [B, L + K, D] }, mask: { data: mask, shape: [B, L + K] } };
}

/** SHA-256 of a file, read in 4 MiB chunks (diffusers UNets can exceed Node's 2 GiB buffer limit). */
export function fileSha256(file: string): string {
  const hash = crypto.createHash('sha256'),
    buf = Buffer.alloc(4 << 20),
    fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** A model folder's ACE tokens (ace.safetensors, written by the RL stage), if it has them. */
function readAce(dir: string) {
  const aceFile = path.join(dir, 'ace.safetensors');
  const ace = fs.existsSync(aceFile) ? requireTensor(readSafetensors(aceFile), 'ace_tokens', aceFile) : null;
  const K = ace ? ace.shape[0] : 0;
  return {
    /** appends the tokens (or, for the unconditional branch, K masked zeros) */
    withAce: (c: Conditioning, pad: boolean) => (ace ? appendTokens(c, ace.data, K, pad) : c),
    ace: ace ? { tokens: Float32Array.from(ace.data), count: K } : undefined,
    aceTokens: K || undefined,
  };
}

/** Applies the folder's LoRA adapters (written by train --stage rl --lora-rank) to its UNet, if it has them. */
function applyLora(dir: string, unet: NativeUNet): string | undefined {
  const file = path.join(dir, LORA_FILE);
  if (!fs.existsSync(file)) return undefined;
  loadLora(unet, file);
  return file;
}

/** The training step recorded by train (pretraining or RL) in a model folder's state.json. */
function readState(dir: string): { state?: { step?: number }; settings?: { textLength?: number } } {
  const file = path.join(dir, 'state.json');
  return fs.existsSync(file) ? readJson(file) : {};
}

function loadCheckpoint(dir: string, o: GeneratorOptions): Generator {
  const weights =
    o.useEma !== false && fs.existsSync(path.join(dir, 'unet_ema.safetensors'))
      ? 'unet_ema.safetensors'
      : 'unet.safetensors';
  const { unetConfig, unet, textConfig, text, tokenizer: tok, scheduler } = loadCheckpointModels(dir, weights);
  const loraFile = applyLora(dir, unet);
  placeModel(unet, o.device ?? 'cpu');
  const state = readState(dir);
  const L = state.settings?.textLength ?? textConfig.max_length;
  const { withAce, ace, aceTokens } = readAce(dir);
  return {
    kind: 'cxrl-checkpoint',
    unet,
    decoder: unetPixelDecoder(unetConfig),
    weightsFile: path.join(dir, weights),
    loraFile,
    scheduler,
    encode: async (prompts) => withAce(encodeTexts(text, tok, prompts, L), false),
    encodeUnconditional: async () => withAce(encodeTexts(text, tok, [''], L), true),
    encodeText: async (prompts) => encodeTexts(text, tok, prompts, L),
    promptTokens: (p) => tok.tokenCount(p),
    maxPromptTokens: L,
    ace,
    step: state.state?.step,
    aceTokens,
  };
}

/** A diffusers model folder's weights: diffusion_pytorch_model.safetensors, else its .fp16 variant. */
function diffusersWeights(dir: string): string {
  const file = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors']
    .map((f) => path.join(dir, f))
    .find((f) => fs.existsSync(f));
  if (!file)
    throw new UserError(
      `${dir}: no diffusion_pytorch_model.safetensors (or .fp16.safetensors); .bin weights are not read, convert them to safetensors`,
    );
  return file;
}

/** How a diffusers UNet's samples become images: pixels as they are, or latents through vaeDir's VAE. */
function diffusersDecoder(unetConfig: UNetConfig, cfgFile: string, vaeDir: string | null, device: DeviceChoice) {
  if (!vaeDir) {
    if (unetConfig.in_channels !== 1 && unetConfig.in_channels !== 3)
      throw new UserError(
        `${cfgFile}: a UNet with ${unetConfig.in_channels} input channels samples latents; give the pipeline folder (with vae/), not the UNet folder alone`,
      );
    return { decoder: unetPixelDecoder(unetConfig) };
  }
  const vaeConfig = path.join(vaeDir, 'config.json');
  const vae = createVaeFromFile(vaeConfig);
  const vaeWeightsFile = diffusersWeights(vaeDir);
  loadVaeWeights(vae, vaeWeightsFile);
  placeModel(vae, device);
  const s = vaeSettings(vae);
  if (unetConfig.in_channels !== s.latentChannels || unetConfig.out_channels !== s.latentChannels)
    throw new UserError(
      `${cfgFile}: in_channels ${unetConfig.in_channels} / out_channels ${unetConfig.out_channels}, but ${vaeConfig} has latent_channels ${s.latentChannels}`,
    );
  const size = unetConfig.sample_size;
  return { decoder: vaeDecoder(vae, s, size, size, unetMultiple(unetConfig)), vaeWeightsFile };
}

async function loadDiffusers(
  dir: string,
  unetDir: string,
  vaeDir: string | null,
  textEncoder: string,
  tokenizer: string,
  schedulerFile: string,
  o: GeneratorOptions,
): Promise<Generator> {
  const cfgFile = path.join(unetDir, 'config.json');
  const unetConfig = readUNetConfig(cfgFile);
  const weightsFile = diffusersWeights(unetDir);
  const { decoder, vaeWeightsFile } = diffusersDecoder(unetConfig, cfgFile, vaeDir, o.device ?? 'cpu');
  const unet = createUNet(unetConfig, 0, cfgFile);
  loadUNetWeights(unet, weightsFile);
  const loraFile = applyLora(dir, unet);
  placeModel(unet, o.device ?? 'cpu');
  const enc = await OnnxTextEncoder.open(textEncoder, tokenizer, o.device);
  const probe = await enc.encode(['']);
  if (probe.context.shape[2] !== unetConfig.cross_attention_dim) {
    throw new UserError(
      `${textEncoder}: embeddings of width ${probe.context.shape[2]}, but ${cfgFile} has cross_attention_dim ${unetConfig.cross_attention_dim}`,
    );
  }
  const { withAce, ace, aceTokens } = readAce(dir);
  return {
    kind: 'diffusers',
    unet,
    decoder,
    weightsFile,
    vaeWeightsFile,
    loraFile,
    scheduler: readDiffusersScheduler(schedulerFile),
    encode: async (prompts) => withAce(await enc.encode(prompts), false),
    encodeUnconditional: async () => withAce(probe, true),
    encodeText: (prompts) => enc.encode(prompts),
    promptTokens: (p) => enc.tokenizer.tokenCount(p),
    maxPromptTokens: enc.tokenizer.maxLength,
    ace,
    step: readState(dir).state?.step,
    aceTokens,
  };
}

/**
 * A second, independent copy of a generator's UNet from the same files (its weights, then its LoRA
 * adapters): the RL stage's frozen anchor. The VAE and the text encoder are shared, not loaded
 * again (they are frozen in both roles).
 */
export function reloadUNet(g: Generator): NativeUNet {
  const unet = createUNet(JSON.parse(g.unet.configJson()) as UNetConfig, 0, g.weightsFile);
  loadUNetWeights(unet, g.weightsFile);
  if (g.loraFile) loadLora(unet, g.loraFile);
  placeModel(unet, g.unet.device());
  return unet;
}

export async function loadGenerator(dir: string, o: GeneratorOptions = {}): Promise<Generator> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${dir}: no such folder`);
  const has = (...p: string[]) => fs.existsSync(path.join(dir, ...p));
  // A run folder made by `train` (RUN/checkpoint holds the model: a checkpoint made here, or a
  // diffusers pipeline for an RL run on one).
  const isModel = has('text_encoder_config.json') || has('unet', 'config.json') || has('config.json');
  if (!isModel && (has('checkpoint', 'text_encoder_config.json') || has('checkpoint', 'unet', 'config.json')))
    return loadGenerator(path.join(dir, 'checkpoint'), o);
  if (has('text_encoder_config.json') && has('tokenizer.json')) return loadCheckpoint(dir, o);
  if (has('unet', 'config.json')) {
    if (!has('text_encoder', 'model.onnx') && !o.textEncoder)
      throw new UserError(
        `${dir}: a diffusers pipeline folder needs text_encoder/model.onnx (an ONNX export of its text encoder) or --text-encoder FILE.onnx`,
      );
    return loadDiffusers(
      dir,
      path.join(dir, 'unet'),
      has('vae', 'config.json') ? path.join(dir, 'vae') : null,
      o.textEncoder ?? path.join(dir, 'text_encoder', 'model.onnx'),
      o.tokenizer ?? path.join(dir, 'tokenizer'),
      path.join(dir, 'scheduler', 'scheduler_config.json'),
      o,
    );
  }
  if (has('config.json')) {
    if (!o.textEncoder || !o.tokenizer)
      throw new UserError(
        `${dir}: a diffusers UNet folder needs --text-encoder FILE.onnx and --tokenizer DIR (CLIP vocab.json + merges.txt)`,
      );
    return loadDiffusers(dir, dir, null, o.textEncoder, o.tokenizer, path.join(dir, 'scheduler_config.json'), o);
  }
  throw new UserError(
    `${dir}: not a checkpoint (no text_encoder_config.json + tokenizer.json), diffusers pipeline (no unet/config.json) or UNet folder (no config.json)`,
  );
}
