/**
 * Atomic checkpoint directories: everything is written into a temporary sibling folder, which then
 * replaces the target in one rename, so an interrupted write never leaves a half checkpoint and
 * never destroys the previous one.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { NativeUNet } from '../engine/native';
import { SchedulerConfig, schedulerConfig } from '../engine/scheduler';
import { createTextEncoder, NativeTextEncoder, TextEncoderConfig } from '../engine/text-encoder';
import { createUNet, loadUNetWeights } from '../engine/unet';
import { readUNetConfig, UNetConfig } from '../engine/unet-config';
import { WordTokenizer } from '../text/tokenizer';
import { UserError } from '../util/errors';
import { engineCall } from '../engine/native-errors';

export function writeCheckpointDir(dir: string, write: (tmp: string) => void): void {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    write(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const old = path.join(parent, `.${path.basename(dir)}.old-${process.pid}`);
  const hadOld = fs.existsSync(dir);
  if (hadOld) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  if (hadOld) fs.rmSync(old, { recursive: true, force: true });
}

export function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as Error).message})`);
  }
}

/** The networks, tokenizer and scheduler of a checkpoint folder (not the optimizer state). */
export interface CheckpointModels {
  unetConfig: UNetConfig;
  unet: NativeUNet;
  textConfig: TextEncoderConfig;
  text: NativeTextEncoder;
  tokenizer: WordTokenizer;
  scheduler: SchedulerConfig;
}

/** Reads a checkpoint's models; `unetWeights` names the UNet weights file (unet.safetensors or unet_ema.safetensors). */
export function loadCheckpointModels(dir: string, unetWeights = 'unet.safetensors'): CheckpointModels {
  const unetConfig = readUNetConfig(path.join(dir, 'config.json'));
  const unet = createUNet(unetConfig, 0, path.join(dir, 'config.json'));
  loadUNetWeights(unet, path.join(dir, unetWeights));
  const textConfig = readJson<TextEncoderConfig>(path.join(dir, 'text_encoder_config.json'));
  const text = createTextEncoder(textConfig, 0);
  engineCall(() => text.loadWeights(path.join(dir, 'text_encoder.safetensors')));
  const schedulerFile = path.join(dir, 'scheduler_config.json');
  return {
    unetConfig,
    unet,
    textConfig,
    text,
    tokenizer: WordTokenizer.load(path.join(dir, 'tokenizer.json')),
    scheduler: schedulerConfig(readJson(schedulerFile), schedulerFile),
  };
}
