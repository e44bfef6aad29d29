/**
 * `cxrl-native train --stage pretrain`: data (a MIMIC-CXR-JPG root, or the embedded default: a
 * synthetic dataset made once into the cache folder), the Pretrainer, metrics.jsonl, a progress
 * bar, periodic checkpoints and sample grids, and SIGINT/SIGTERM that save before exiting.
 */
import { DeviceChoice, placeModel, Precision, requireSingleProcess, configureEngine } from '../engine/device';
import * as fs from 'fs';
import * as path from 'path';
import { cachedImageLoader, embeddedDataset } from '../data/cache';
import { loadMimic } from '../data/mimic';
import { engineSummary } from '../engine/native';
import { schedulerConfig } from '../engine/scheduler';
import { readUNetConfig, validateUNetConfig } from '../engine/unet-config';
import { WordTokenizer } from '../text/tokenizer';
import { UserError } from '../util/errors';
import { Progress } from '../util/progress';
import { Pretrainer, PretrainSettings, trainSteps } from './pretrain';
import { writeSampleGrid } from '../generation/sampling';
import { refreshMetricsPlot } from '../plot/metrics-plot';
import {
  checkFreshRunFolder,
  refuseChangedSettings,
  removeStaleCheckpointTemps,
  settingsDiff,
  StopSignals,
  truncateMetrics,
} from './run-lifecycle';

export interface PretrainArgs {
  data?: string;
  out: string;
  resume: boolean;
  steps: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  warmup: number;
  imageSize: number;
  preset: string;
  seed: number;
  saveEvery: number;
  sampleEvery: number;
  textLength: number;
  synthStudies: number;
  emaDecay: number;
  /** where the UNet, its EMA and the text encoder run (src/engine/device.ts) */
  device: DeviceChoice;
  precision: Precision;
}

/** The settings a pretraining run is made with (a --resume must give the same). */
function settingsOf(a: PretrainArgs): PretrainSettings {
  return {
    batchSize: a.batchSize,
    gradAccum: a.gradAccum,
    lr: a.lr,
    textLr: a.lr,
    warmupSteps: a.warmup,
    weightDecay: 1e-4,
    maxGradNorm: 1,
    condDropout: 0.1,
    seed: a.seed,
    imageSize: a.imageSize,
    textLength: a.textLength,
    emaDecay: a.emaDecay,
  };
}

export async function runPretrain(a: PretrainArgs): Promise<void> {
  requireSingleProcess('train --stage pretrain');
  configureEngine(a.precision, a.device);
  // Everything is checked before anything is read or written.
  const unet = validateUNetConfig(
    { ...readUNetConfig(a.preset), sample_size: a.imageSize },
    `--image-size ${a.imageSize}`,
  );
  const ckpt = path.join(a.out, 'checkpoint');
  if (!a.resume) checkFreshRunFolder(a.out);
  else if (!fs.existsSync(path.join(ckpt, 'state.json'))) throw new UserError(`${ckpt}: no checkpoint to resume from`);
  const root = a.data ?? (await embeddedDataset(a.synthStudies, 0));
  const records = loadMimic({ root, splits: ['train'] }).records;
  if (records.length < a.batchSize)
    throw new UserError(
      `${root}: only ${records.length} training images with report text; need at least --batch-size ${a.batchSize}`,
    );
  let trainer: Pretrainer;
  const metricsFile = path.join(a.out, 'metrics.jsonl');
  if (a.resume) {
    trainer = Pretrainer.load(ckpt);
    refuseChangedSettings(settingsDiff(trainer.settings, settingsOf(a), []), [
      '--steps',
      '--save-every',
      '--sample-every',
    ]);
    truncateMetrics(metricsFile, (m) => typeof m.step === 'number' && m.step <= trainer.state.step);
    removeStaleCheckpointTemps(a.out);
    console.error(`resuming from ${ckpt} at step ${trainer.state.step}`);
  } else {
    const tok = WordTokenizer.build(
      records.map((r) => r.text),
      { minCount: 2 },
    );
    trainer = Pretrainer.create(
      unet,
      { max_length: a.textLength, width: unet.cross_attention_dim, layers: 2, heads: 4 },
      tok,
      schedulerConfig(),
      settingsOf(a),
    );
  }
  for (const model of [trainer.unet, trainer.text, trainer.ema]) if (model) placeModel(model, a.device);
  fs.mkdirSync(a.out, { recursive: true });
  console.error(engineSummary());
  const loader = cachedImageLoader(root, trainer.settings.imageSize);
  const metrics = fs.openSync(metricsFile, 'a');
  const samplePrompts = [...new Set(records.map((r) => r.text))].slice(0, 4);
  const stop = new StopSignals('step');
  const bar = new Progress('pretrain', a.steps, 'steps', trainer.state.step);
  const t0 = Date.now();
  try {
    await trainSteps(trainer, records, loader, a.steps, {
      shouldStop: () => stop.requested,
      onStep: async (m) => {
        fs.writeSync(
          metrics,
          JSON.stringify({ ...m, epoch: trainer.state.epoch, seconds: (Date.now() - t0) / 1000 }) + '\n',
        );
        bar.update(m.step, `loss ${m.loss.toFixed(4)}`);
        if (m.step % a.saveEvery === 0) {
          trainer.save(ckpt);
          await refreshMetricsPlot(a.out);
        }
        if (a.sampleEvery > 0 && m.step % a.sampleEvery === 0) {
          await writeSampleGrid(
            trainer.samplingModel(),
            samplePrompts,
            trainer.settings.seed,
            path.join(a.out, 'samples', `step-${m.step}.png`),
          );
        }
      },
    });
    trainer.save(ckpt);
  } finally {
    stop.finish();
    fs.closeSync(metrics);
  }
  await refreshMetricsPlot(a.out);
  console.log(
    `pretrain: step ${trainer.state.step}; checkpoint ${ckpt}${stop.requested ? ' (interrupted; --resume continues)' : ''}`,
  );
}
