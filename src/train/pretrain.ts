/**
 * Pretraining of the report-to-CXR generator: epsilon-prediction MSE at random timesteps, the
 * built-in text encoder trained jointly with the UNet, classifier-free-guidance prompt dropout,
 * gradient accumulation, joint gradient-norm clipping, linear warm-up, AdamW. All randomness of a
 * micro-batch (timesteps, dropout, noise) derives from (seed, step, micro-batch), and the data
 * order from (seed, epoch), so a run resumed from a checkpoint continues exactly. With emaDecay > 0
 * an exponential moving average of the UNet weights is kept (and saved); sampling uses it.
 */
import * as path from 'path';
import { loadAddon, NativeOptimizer, NativeUNet } from '../engine/native';
import { clipJointGradNorm } from '../engine/optimizer';
import { ddimSchedule, SchedulerConfig } from '../engine/scheduler';
import { createTextEncoder, encodeTexts, NativeTextEncoder, TextEncoderConfig } from '../engine/text-encoder';
import { createUNet } from '../engine/unet';
import type { UNetConfig } from '../engine/unet-config';
import { Batch, batches, ImageLoader } from '../data/images';
import type { MimicRecord } from '../data/mimic';
import { WordTokenizer } from '../text/tokenizer';
import { Rng, seedFor } from '../util/random';
import { UserError } from '../util/errors';
import { engineCall } from '../engine/native-errors';
import { loadCheckpointModels, readJson, writeCheckpointDir } from './checkpoint';
import type { SamplingModel } from '../generation/sampling';
import { unetPixelDecoder } from '../generation/sample-decoder';
import * as fs from 'fs';

export interface PretrainSettings {
  batchSize: number;
  gradAccum: number;
  lr: number;
  textLr: number;
  warmupSteps: number;
  weightDecay: number;
  maxGradNorm: number;
  /** fraction of prompts replaced by the empty prompt (for classifier-free guidance) */
  condDropout: number;
  seed: number;
  imageSize: number;
  textLength: number;
  /** EMA of the UNet weights (0: none); the decay warms up as min(d, (1 + step) / (10 + step)) */
  emaDecay?: number;
}

export interface PretrainState {
  /** optimizer steps done */
  step: number;
  epoch: number;
  /** micro-batches of `epoch` already consumed */
  batchInEpoch: number;
}

export interface StepMetrics {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
}

/** The prompts of a micro-batch after classifier-free-guidance dropout. */
export function dropPrompts(texts: string[], fraction: number, rng: Rng): string[] {
  return texts.map((t) => (rng.uniform() < fraction ? '' : t));
}

export class Pretrainer {
  private readonly optUnet: NativeOptimizer;
  private readonly optText: NativeOptimizer;
  private readonly native = loadAddon();
  private readonly alphasCumprod: Float64Array;
  /** the EMA of the UNet weights, when settings.emaDecay > 0 */
  ema: NativeUNet | null = null;

  constructor(
    readonly unet: NativeUNet,
    readonly unetConfig: UNetConfig,
    readonly text: NativeTextEncoder,
    readonly textConfig: TextEncoderConfig,
    readonly tokenizer: WordTokenizer,
    readonly scheduler: SchedulerConfig,
    readonly settings: PretrainSettings,
    readonly state: PretrainState = { step: 0, epoch: 0, batchInEpoch: 0 },
  ) {
    const { Optimizer } = loadAddon();
    this.optUnet = new Optimizer(unet, { lr: settings.lr, weightDecay: settings.weightDecay });
    this.optText = new Optimizer(text, { lr: settings.textLr, weightDecay: settings.weightDecay });
    this.alphasCumprod = ddimSchedule(scheduler, 1).alphasCumprod;
    if ((settings.emaDecay ?? 0) > 0) {
      this.ema = createUNet(unetConfig, settings.seed);
      this.native.emaUpdate(this.ema, unet, 0);
    }
  }

  /** The model to sample with (the EMA weights when there are some), for sample grids. */
  samplingModel(): SamplingModel {
    const s = this.settings;
    return {
      unet: this.ema ?? this.unet,
      scheduler: this.scheduler,
      decoder: unetPixelDecoder(this.unetConfig, s.imageSize),
      encode: async (prompts) => encodeTexts(this.text, this.tokenizer, prompts, s.textLength),
      encodeUnconditional: async () => encodeTexts(this.text, this.tokenizer, [''], s.textLength),
    };
  }

  static create(
    unetConfig: UNetConfig,
    textConfig: Omit<TextEncoderConfig, 'vocab_size'>,
    tokenizer: WordTokenizer,
    scheduler: SchedulerConfig,
    settings: PretrainSettings,
  ): Pretrainer {
    const tc: TextEncoderConfig = { ...textConfig, vocab_size: tokenizer.size };
    return new Pretrainer(
      createUNet(unetConfig, settings.seed),
      unetConfig,
      createTextEncoder(tc, settings.seed + 1),
      tc,
      tokenizer,
      scheduler,
      settings,
    );
  }

  /** Forward and backward of one micro-batch; gradients accumulate. Returns its loss. */
  private async microBatch(batch: Batch, micro: number): Promise<number> {
    const s = this.settings;
    const B = batch.records.length,
      N = s.imageSize * s.imageSize;
    const rng = new Rng(seedFor(s.seed, this.state.step, micro));
    const texts = dropPrompts(
      batch.records.map((r) => r.text),
      s.condDropout,
      rng,
    );
    const T = this.scheduler.num_train_timesteps;
    const t = Array.from({ length: B }, () => rng.int(0, T - 1));
    const noise = this.native.randn({ seed: rng.nextUint32(), streamOffset: 0, batch: B, perSample: N });
    const xt = this.native.addNoise({
      sample: batch.images,
      noise,
      alphaBar: t.map((k) => this.alphasCumprod[k]),
      batch: B,
      perSample: N,
    });
    const { ids, mask } = this.tokenizer.encodeBatch(texts, s.textLength);
    const context = this.text.forward({ ids, shape: [B, s.textLength], mask });
    // Forward, MSE against the noise and backward: one engine call on the UNet's device.
    const r = await this.unet.denoiseStepAsync({
      sample: { data: xt, shape: [B, 1, s.imageSize, s.imageSize] },
      timestep: { data: Float32Array.from(t), shape: [B] },
      encoderHiddenStates: context,
      encoderAttentionMask: { data: mask, shape: [B, s.textLength] },
      target: { data: noise, shape: [B, 1, s.imageSize, s.imageSize] },
      lossScale: 1 / s.gradAccum,
    });
    this.text.backward(r.gradContext);
    return r.loss;
  }

  /** One optimizer step over gradAccum micro-batches. */
  async step(micro: Batch[]): Promise<StepMetrics> {
    const s = this.settings;
    if (micro.length !== s.gradAccum) throw new Error(`step needs ${s.gradAccum} micro-batches, got ${micro.length}`);
    this.unet.zeroGrad();
    this.text.zeroGrad();
    let loss = 0;
    for (let m = 0; m < micro.length; m++) loss += (await this.microBatch(micro[m], m)) / micro.length;
    const norm = clipJointGradNorm([this.optUnet, this.optText], s.maxGradNorm);
    const warm = Math.min(1, (this.state.step + 1) / Math.max(1, s.warmupSteps));
    this.optUnet.setLr(s.lr * warm);
    this.optText.setLr(s.textLr * warm);
    this.optUnet.step();
    this.optText.step();
    if (this.ema) this.native.emaUpdate(this.ema, this.unet, this.settings.emaDecay!, this.state.step);
    this.state.step++;
    return { step: this.state.step, loss, gradNorm: norm, lr: s.lr * warm };
  }

  save(dir: string): void {
    writeCheckpointDir(dir, (tmp) => {
      fs.writeFileSync(
        path.join(tmp, 'config.json'),
        JSON.stringify({ _class_name: 'UNet2DConditionModel', ...this.unetConfig }, null, 2),
      );
      fs.writeFileSync(path.join(tmp, 'text_encoder_config.json'), JSON.stringify(this.textConfig, null, 2));
      fs.writeFileSync(path.join(tmp, 'scheduler_config.json'), JSON.stringify(this.scheduler, null, 2));
      this.tokenizer.save(path.join(tmp, 'tokenizer.json'));
      this.unet.saveWeights(path.join(tmp, 'unet.safetensors'));
      this.ema?.saveWeights(path.join(tmp, 'unet_ema.safetensors'));
      this.text.saveWeights(path.join(tmp, 'text_encoder.safetensors'));
      this.optUnet.saveState(path.join(tmp, 'optimizer.safetensors'));
      this.optText.saveState(path.join(tmp, 'optimizer_text_encoder.safetensors'));
      fs.writeFileSync(
        path.join(tmp, 'state.json'),
        JSON.stringify({ format: 'cxrl-pretrain', version: 1, state: this.state, settings: this.settings }, null, 2),
      );
    });
  }

  static load(dir: string): Pretrainer {
    const j = (f: string) => readJson<Record<string, unknown>>(path.join(dir, f));
    const file = path.join(dir, 'state.json');
    const st = j('state.json') as { format?: string; state?: PretrainState; settings?: PretrainSettings };
    if (st.format !== 'cxrl-pretrain')
      throw new UserError(`${file}: not a pretraining checkpoint (no "format": "cxrl-pretrain")`);
    const isCount = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
    if (!st.state || !isCount(st.state.step) || !isCount(st.state.epoch) || !isCount(st.state.batchInEpoch))
      throw new UserError(`${file}: "state" must hold step, epoch and batchInEpoch counts`);
    if (!st.settings || typeof st.settings !== 'object') throw new UserError(`${file}: "settings" is missing`);
    const m = loadCheckpointModels(dir);
    const p = new Pretrainer(m.unet, m.unetConfig, m.text, m.textConfig, m.tokenizer, m.scheduler, st.settings, {
      ...st.state,
    });
    // Engine errors already name the file they could not read.
    if (p.ema) engineCall(() => p.ema!.loadWeights(path.join(dir, 'unet_ema.safetensors')));
    engineCall(() => p.optUnet.loadState(path.join(dir, 'optimizer.safetensors')));
    engineCall(() => p.optText.loadState(path.join(dir, 'optimizer_text_encoder.safetensors')));
    return p;
  }
}

/**
 * Runs optimizer steps until `p.state.step` reaches `untilStep` (or shouldStop() says so), drawing
 * micro-batches in the seeded order of each epoch from where the state left off. Stops only at
 * step boundaries, so the state can always be checkpointed and resumed exactly.
 */
export async function trainSteps(
  p: Pretrainer,
  records: MimicRecord[],
  loader: ImageLoader,
  untilStep: number,
  hooks: { onStep?: (m: StepMetrics) => void | Promise<void>; shouldStop?: () => boolean } = {},
): Promise<void> {
  let micro: Batch[] = [];
  while (p.state.step < untilStep) {
    let sawBatch = false;
    for await (const b of batches(records, loader, {
      batchSize: p.settings.batchSize,
      seed: p.settings.seed,
      epoch: p.state.epoch,
      startBatch: p.state.batchInEpoch,
      dropLast: true,
    })) {
      sawBatch = true;
      micro.push(b);
      p.state.batchInEpoch++;
      if (micro.length < p.settings.gradAccum) continue;
      const m = await p.step(micro);
      micro = [];
      await hooks.onStep?.(m);
      if (p.state.step >= untilStep || hooks.shouldStop?.()) return;
    }
    if (!sawBatch && p.state.batchInEpoch === 0)
      throw new Error(`no training batch of ${p.settings.batchSize} readable images`);
    p.state.epoch++;
    p.state.batchInEpoch = 0;
  }
}
