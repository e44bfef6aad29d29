/**
 * RL checkpoints: a folder that `generate --checkpoint` reads like a pretraining checkpoint (the
 * init's configs, tokenizer and frozen text encoder, the policy UNet as unet.safetensors, ACE as
 * ace.safetensors) plus what resuming needs: the UNet's AdamW state, ACE's Adam state, the
 * advantage tracker, the epoch, optimizer-step count and prompt cursor, the settings, and the init
 * model's path and weights hash (the anchor is re-read from it, and must not have changed).
 * Written atomically (writeCheckpointDir).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { NativeOptimizer } from '../engine/native';
import { fileSha256, Generator } from '../generation/generator';
import { UserError } from '../util/errors';
import { ACE_FILE, ACE_OPTIMIZER_FILE, AceTokens } from './ace';
import type { PerPromptStatTracker, TrackerState } from './advantages';
import type { RlSettings } from './settings';
import type { RlState } from './trainer';
import { readJson, writeCheckpointDir } from '../train/checkpoint';

export const RL_FORMAT = 'cxrl-rl';
const MODEL_FILES = [
  'config.json',
  'text_encoder_config.json',
  'text_encoder.safetensors',
  'tokenizer.json',
  'scheduler_config.json',
];

export interface InitModel {
  /** the folder given as --init */
  dir: string;
  /** the weights file the policy and anchor started from, and its SHA-256 */
  weights: string;
  sha256: string;
}

export interface RlCheckpointState {
  format: typeof RL_FORMAT;
  version: 1;
  state: RlState;
  settings: RlSettings;
  tracker: TrackerState;
  init: InitModel;
}

export function describeInit(dir: string, g: Generator): InitModel {
  return { dir: path.resolve(dir), weights: g.weightsFile, sha256: fileSha256(g.weightsFile) };
}

/** Refuses an init the RL checkpoint could not be written for (it copies a checkpoint made here). */
export function checkInitKind(dir: string, g: Generator): void {
  if (g.kind !== 'cxrl-checkpoint') {
    throw new UserError(
      `${dir}: RL fine-tuning of diffusers pipelines is not supported yet; --init takes a checkpoint made by train (RUN/checkpoint)`,
    );
  }
}

export function saveRlCheckpoint(
  dir: string,
  init: InitModel,
  policy: Generator,
  optimizer: NativeOptimizer,
  ace: AceTokens | null,
  tracker: PerPromptStatTracker,
  settings: RlSettings,
  state: RlState,
): void {
  const source = path.dirname(init.weights);
  writeCheckpointDir(dir, (tmp) => {
    for (const f of MODEL_FILES) fs.copyFileSync(path.join(source, f), path.join(tmp, f));
    policy.unet.saveWeights(path.join(tmp, 'unet.safetensors'));
    ace?.save(path.join(tmp, ACE_FILE), path.join(tmp, ACE_OPTIMIZER_FILE));
    optimizer.saveState(path.join(tmp, 'optimizer.safetensors'));
    const st: RlCheckpointState = { format: RL_FORMAT, version: 1, state, settings, tracker: tracker.state(), init };
    // `generate` reads state.step and settings.textLength from here, as from a pretraining checkpoint.
    fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify({ ...st, state: { ...state } }, null, 2));
  });
}

export function readRlCheckpointState(dir: string): RlCheckpointState {
  const file = path.join(dir, 'state.json');
  if (!fs.existsSync(file)) throw new UserError(`${dir}: no checkpoint to resume from (no state.json)`);
  const st = readJson<Partial<RlCheckpointState>>(file);
  if (st.format !== RL_FORMAT)
    throw new UserError(`${file}: not an RL checkpoint (format ${JSON.stringify(st.format)})`);
  for (const k of ['state', 'settings', 'tracker', 'init'] as const)
    if (!st[k] || typeof st[k] !== 'object') throw new UserError(`${file}: "${k}" is missing`);
  return st as RlCheckpointState;
}

export function loadAce(dir: string): AceTokens {
  return AceTokens.load(path.join(dir, ACE_FILE), path.join(dir, ACE_OPTIMIZER_FILE));
}
