/**
 * Pretraining core: a run resumed from a checkpoint ends bit-identical to an uninterrupted one,
 * the loss falls on a small model, prompt dropout hits its rate, checkpoints replace atomically.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ImageLoader } from '../src/data/images';
import { loadMimic, MimicRecord } from '../src/data/mimic';
import { synthesizeDataset } from '../src/data/synth';
import { loadAddon } from '../src/engine/native';
import { schedulerConfig } from '../src/engine/scheduler';
import { createUNet } from '../src/engine/unet';
import { WordTokenizer } from '../src/text/tokenizer';
import { dropPrompts, Pretrainer, PretrainSettings, trainSteps } from '../src/train/pretrain';
import { Rng } from '../src/util/random';
import { tmpDir } from './helpers';
import { MICRO_UNET } from './fixtures';

jest.setTimeout(600000);

const UNET = MICRO_UNET;
const TEXT = { max_length: 16, width: 16, layers: 1, heads: 2 };
const SETTINGS: PretrainSettings = {
  batchSize: 4,
  gradAccum: 2,
  lr: 1e-3,
  textLr: 1e-3,
  warmupSteps: 3,
  weightDecay: 1e-4,
  maxGradNorm: 1,
  condDropout: 0.1,
  seed: 11,
  imageSize: 16,
  textLength: 16,
};

let records: MimicRecord[];
let tokenizer: WordTokenizer;
let cache: string;
beforeAll(async () => {
  const root = path.join(tmpDir('pre'), 'd');
  await synthesizeDataset({ out: root, studies: 24, seed: 5, size: 64 });
  records = loadMimic({ root, splits: ['train'] }).records;
  tokenizer = WordTokenizer.build(
    records.map((r) => r.text),
    { minCount: 1 },
  );
  cache = tmpDir('pre-cache');
});

function params(p: Pretrainer): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const x of p.unet.paramInfo()) m.set(`unet.${x.name}`, p.unet.getParam(x.name).data);
  for (const x of p.text.paramInfo()) m.set(`text.${x.name}`, p.text.getParam(x.name).data);
  return m;
}

test('a run resumed from a checkpoint ends bit-identical to an uninterrupted one', async () => {
  const loader = new ImageLoader({ size: 16 }, cache);
  const straight = Pretrainer.create(UNET as never, TEXT, tokenizer, schedulerConfig(), SETTINGS);
  await trainSteps(straight, records, loader, 6);
  const first = Pretrainer.create(UNET as never, TEXT, tokenizer, schedulerConfig(), SETTINGS);
  await trainSteps(first, records, loader, 3);
  const ckpt = path.join(tmpDir('ckpt'), 'step3');
  first.save(ckpt);
  const resumed = Pretrainer.load(ckpt);
  expect(resumed.state).toEqual(first.state);
  await trainSteps(resumed, records, loader, 6);
  expect(resumed.state).toEqual(straight.state);
  const a = params(straight),
    b = params(resumed);
  for (const [k, v] of a) expect(Buffer.from(b.get(k)!.buffer).equals(Buffer.from(v.buffer))).toBe(true);
  console.log(
    `resume: ${a.size} tensors identical after 3 + 3 steps (epoch ${straight.state.epoch}, batch ${straight.state.batchInEpoch})`,
  );
});

test('the loss falls on a small model', async () => {
  const loader = new ImageLoader({ size: 16 }, cache);
  const p = Pretrainer.create(UNET as never, TEXT, tokenizer, schedulerConfig(), {
    ...SETTINGS,
    gradAccum: 1,
    lr: 2e-3,
    textLr: 2e-3,
  });
  const losses: number[] = [];
  await trainSteps(p, records, loader, 60, {
    onStep: (m) => {
      losses.push(m.loss);
      expect(Number.isFinite(m.gradNorm)).toBe(true);
    },
  });
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const early = mean(losses.slice(0, 10)),
    late = mean(losses.slice(-10));
  console.log(`pretraining loss: first 10 steps ${early.toFixed(3)}, last 10 ${late.toFixed(3)}`);
  expect(late).toBeLessThan(0.7 * early);
});

test('prompt dropout replaces about the configured fraction; checkpoints replace atomically', () => {
  const rng = new Rng(1);
  const texts = Array.from({ length: 20000 }, () => 'x');
  const dropped = dropPrompts(texts, 0.1, rng).filter((t) => t === '').length / texts.length;
  expect(Math.abs(dropped - 0.1)).toBeLessThan(0.01);
  const p = Pretrainer.create(UNET as never, TEXT, tokenizer, schedulerConfig(), SETTINGS);
  const dir = path.join(tmpDir('atomic'), 'ckpt');
  p.save(dir);
  fs.writeFileSync(path.join(dir, 'stale-file'), 'x');
  p.save(dir);
  expect(fs.existsSync(path.join(dir, 'stale-file'))).toBe(false);
  expect(fs.readdirSync(path.dirname(dir))).toEqual(['ckpt']);
  expect(fs.readdirSync(dir).sort()).toEqual([
    'config.json',
    'optimizer.safetensors',
    'optimizer_text_encoder.safetensors',
    'scheduler_config.json',
    'state.json',
    'text_encoder.safetensors',
    'text_encoder_config.json',
    'tokenizer.json',
    'unet.safetensors',
  ]);
});

test('the EMA follows shadow = d * shadow + (1 - d) * live with the warmed-up decay, and is checkpointed', async () => {
  const loader = new ImageLoader({ size: 16 }, cache);
  // 0.2 binds from step 2 on (the warm-up (1 + s) / (10 + s) is 0.25 there): an implementation that
  // ignored the configured decay would fail.
  const decay = 0.2;
  const p = Pretrainer.create(UNET as never, TEXT, tokenizer, schedulerConfig(), {
    ...SETTINGS,
    gradAccum: 1,
    emaDecay: decay,
  });
  const names = p.unet.paramInfo().map((x) => x.name);
  const expected = new Map(names.map((n) => [n, Float64Array.from(p.unet.getParam(n).data)]));
  let decayBound = 0;
  for (let step = 0; step < 5; step++) {
    await trainSteps(p, records, loader, step + 1);
    const d = Math.min(decay, (1 + step) / (10 + step));
    if (d === decay) decayBound++;
    for (const n of names) {
      const live = p.unet.getParam(n).data,
        e = expected.get(n)!;
      for (let i = 0; i < e.length; i++) e[i] = d * e[i] + (1 - d) * live[i];
    }
  }
  let maxErr = 0,
    moved = 0;
  for (const n of names) {
    const got = p.ema!.getParam(n).data,
      e = expected.get(n)!,
      live = p.unet.getParam(n).data;
    for (let i = 0; i < e.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(got[i] - e[i]));
      moved = Math.max(moved, Math.abs(got[i] - live[i]));
    }
  }
  console.log(
    `EMA vs float64 recurrence: max abs error ${maxErr.toExponential(2)}; max |ema - live| ${moved.toExponential(2)}`,
  );
  expect(decayBound).toBe(3);
  expect(maxErr).toBeLessThan(1e-6);
  expect(moved).toBeGreaterThan(1e-5);
  const dir = path.join(tmpDir('ema'), 'ckpt');
  p.save(dir);
  const q = Pretrainer.load(dir);
  for (const n of names.slice(0, 5))
    expect(Array.from(q.ema!.getParam(n).data)).toEqual(Array.from(p.ema!.getParam(n).data));
});

test("the engine's denoising step equals forward + mseLoss + backward composed, bit for bit", async () => {
  const rng = new Rng(17);
  const [B, L, D] = [3, 5, UNET.cross_attention_dim];
  const sample = { data: rng.normals(B * 256), shape: [B, 1, 16, 16] };
  const target = { data: rng.normals(B * 256), shape: sample.shape };
  const mask = new Float32Array(B * L).fill(1);
  mask[L - 1] = 0; // a padded token
  const input = {
    sample,
    timestep: { data: Float32Array.of(10, 500, 990), shape: [B] },
    encoderHiddenStates: { data: rng.normals(B * L * D), shape: [B, L, D] },
    encoderAttentionMask: { data: mask, shape: [B, L] },
  };
  const engine = createUNet(UNET as never, 3),
    composed = createUNet(UNET as never, 3);
  engine.zeroGrad();
  composed.zeroGrad();
  const r = await engine.denoiseStepAsync({ ...input, target, lossScale: 0.5 });
  const pred = await composed.forwardAsync(input);
  const { loss, grad } = loadAddon().mseLoss({ pred: pred.data, target: target.data, scale: 0.5 });
  const g = await composed.backwardAsync({ data: grad, shape: pred.shape });
  expect(r.loss).toBe(loss);
  expect(Buffer.from(r.gradContext.data.buffer).equals(Buffer.from(g.encoderHiddenStates.data.buffer))).toBe(true);
  const differing = engine
    .paramInfo()
    .filter(
      (p) => !Buffer.from(engine.getGrad(p.name).data.buffer).equals(Buffer.from(composed.getGrad(p.name).data.buffer)),
    );
  expect(differing).toEqual([]);
  await expect(engine.denoiseStepAsync({ ...input, target: { data: target.data, shape: [B, 256] } })).rejects.toThrow(
    /denoise step: target must be \[3,1,16,16\] like the sample, got \[3,256\]/,
  );
});
