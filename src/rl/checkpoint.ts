/**
 * RL checkpoints: a folder that `generate --checkpoint` reads like the init model, plus what
 * resuming needs. For a checkpoint made here: the init's configs, tokenizer and frozen text
 * encoder, the policy UNet as unet.safetensors. For a diffusers pipeline (RoentGen, SD v1.x): a
 * pipeline folder again, with the policy UNet in unet/ and the frozen text_encoder/, tokenizer/,
 * scheduler/ and vae/ hard-linked from the init (copied across file systems). Either way ACE as
 * ace.safetensors, and for resuming: the UNet's AdamW state, ACE's Adam state, the
 * advantage tracker, the epoch, optimizer-step count and prompt cursor, the settings, and the init
 * model's path and weights hash (the anchor is re-read from it, and must not have changed).
 * Written atomically (writeCheckpointDir).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { NativeOptimizer } from '../engine/native';
import { LORA_FILE, saveLora } from '../engine/lora';
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
/** The frozen parts of a diffusers pipeline folder, as the init has them. */
const PIPELINE_PARTS = ['model_index.json', 'text_encoder', 'tokenizer', 'scheduler', 'vae'];
const PIPELINE_UNET_WEIGHTS = path.join('unet', 'diffusion_pytorch_model.safetensors');

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

/** Where an RL checkpoint of a model of this kind keeps the policy UNet's weights. */
export function policyWeightsFile(ckpt: string, kind: Generator['kind']): string {
  return path.join(ckpt, kind === 'diffusers' ? PIPELINE_UNET_WEIGHTS : 'unet.safetensors');
}

/** A hard link of a frozen file (no copy of a GB-sized text encoder per epoch), or a copy where links fail. */
function linkOrCopy(from: string, to: string): void {
  if (fs.statSync(from).isDirectory()) {
    fs.mkdirSync(to);
    for (const f of fs.readdirSync(from)) linkOrCopy(path.join(from, f), path.join(to, f));
    return;
  }
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

/**
 * The init's frozen model files, and the policy UNet in the layout `generate` reads for this kind:
 * its weights, or with LoRA the init's base weights (linked: they do not change) and the adapters.
 */
function writeModel(tmp: string, init: InitModel, policy: Generator): void {
  if (policy.kind === 'cxrl-checkpoint') {
    const source = path.dirname(init.weights);
    for (const f of MODEL_FILES) fs.copyFileSync(path.join(source, f), path.join(tmp, f));
  } else {
    for (const part of PIPELINE_PARTS)
      if (fs.existsSync(path.join(init.dir, part))) linkOrCopy(path.join(init.dir, part), path.join(tmp, part));
    fs.mkdirSync(path.join(tmp, 'unet'));
    fs.copyFileSync(path.join(path.dirname(init.weights), 'config.json'), path.join(tmp, 'unet', 'config.json'));
  }
  if (policy.unet.loraRank() > 0) {
    linkOrCopy(init.weights, policyWeightsFile(tmp, policy.kind));
    saveLora(policy.unet, path.join(tmp, LORA_FILE));
  } else policy.unet.saveWeights(policyWeightsFile(tmp, policy.kind));
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
  writeCheckpointDir(dir, (tmp) => {
    writeModel(tmp, init, policy);
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
  // Runs saved before --lora-rank existed trained every weight.
  return { ...st, settings: { loraRank: 0, ...st.settings } } as RlCheckpointState;
}

export function loadAce(dir: string): AceTokens {
  return AceTokens.load(path.join(dir, ACE_FILE), path.join(dir, ACE_OPTIMIZER_FILE));
}
