/**
 * A scaled-down Stable-Diffusion-shaped (latent) pipeline made here: a UNet with 4 input channels,
 * an ONNX CLIP-shaped text encoder exported by PyTorch (cross_attention_dim = its width), a VAE with
 * scaling_factor, CLIP tokenizer files and SD v1.x's published scheduler config. `generate`, a
 * one-epoch `train --stage rl` and `eval` run on it; generate's images are checked against the
 * pipeline assembled by hand (DDIM latents, decode(latents / scaling_factor), channel mean).
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { createUNet } from '../src/engine/unet';
import { sampleDdim } from '../src/engine/sampler';
import { createVae, createVaeFromFile, loadVaeWeights } from '../src/engine/vae';
import { loadGenerator } from '../src/generation/generator';
import { channelMean } from '../src/generation/sample-decoder';
import { toBytes } from '../src/generation/sampling';
import { loadReports } from '../src/rl/prompts';
import { LORA_FILE } from '../src/engine/lora';
import { readSafetensors } from '../src/io/safetensors';
import { CliFixture, makeCliFixture } from './fixtures';
import { readMetrics, ROOT, runCli, runPython } from './helpers';

jest.setTimeout(900000);

const WIDTH = 32,
  LENGTH = 16,
  SCALING = 0.5;
const SD_UNET = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'reference', 'sd-v1-unet-config.json'), 'utf8'));
const UNET_CONFIG = {
  ...SD_UNET,
  block_out_channels: [16, 32],
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 1,
  attention_head_dim: 2,
  norm_num_groups: 8,
  cross_attention_dim: WIDTH,
  sample_size: 8,
};
const SD_VAE = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'reference', 'sd-v1-vae-config.json'), 'utf8'));
const VAE_CONFIG = {
  ...SD_VAE,
  block_out_channels: [16, 32],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 8,
  sample_size: 16,
  scaling_factor: SCALING,
};

let fx: CliFixture, pipe: string;

beforeAll(() => {
  fx = makeCliFixture('latent', { studies: 60, rewards: true });
  pipe = path.join(fx.work, 'sd-pipeline');
  fs.mkdirSync(path.join(pipe, 'unet'), { recursive: true });
  fs.writeFileSync(path.join(fx.work, 'prompts.json'), JSON.stringify(['heart']));
  runPython('make_clip_onnx.py', [pipe, String(LENGTH), String(WIDTH), '3', path.join(fx.work, 'prompts.json')]);
  fs.writeFileSync(path.join(pipe, 'unet', 'config.json'), JSON.stringify(UNET_CONFIG, null, 2));
  createUNet(UNET_CONFIG, 5).saveWeights(path.join(pipe, 'unet', 'diffusion_pytorch_model.safetensors'));
  fs.mkdirSync(path.join(pipe, 'vae'));
  fs.writeFileSync(path.join(pipe, 'vae', 'config.json'), JSON.stringify(VAE_CONFIG, null, 2));
  createVae(JSON.stringify(VAE_CONFIG), 6).saveWeights(path.join(pipe, 'vae', 'diffusion_pytorch_model.safetensors'));
  fs.mkdirSync(path.join(pipe, 'scheduler'));
  fs.copyFileSync(
    path.join(ROOT, 'test', 'reference', 'sd-v1-scheduler-config.json'),
    path.join(pipe, 'scheduler', 'scheduler_config.json'),
  );
});

const PROMPTS = ['Moderate cardiomegaly.', 'Small left pleural effusion.'];
const generate = (checkpoint: string, out: string) =>
  fx.ok([
    'generate',
    '--checkpoint',
    checkpoint,
    '--prompt',
    PROMPTS[0],
    '--prompt',
    PROMPTS[1],
    '--steps',
    '3',
    '--guidance-scale',
    '2',
    '--seed',
    '7',
    '--out',
    out,
  ]);

/** One small RL epoch on the pipeline, into `out`. */
const rlEpoch = (out: string, ...extra: string[]) =>
  fx.ok([
    'train',
    '--stage',
    'rl',
    '--init',
    pipe,
    '--rewards',
    fx.rewards,
    '--data',
    fx.data,
    '--out',
    out,
    '--epochs',
    '1',
    '--prompts-per-epoch',
    '2',
    '--samples-per-prompt',
    '2',
    '--sample-steps',
    '3',
    '--train-batch-size',
    '2',
    '--eval-reports',
    '4',
    ...extra,
  ]);

test('generate decodes latents through the VAE exactly as the pipeline assembled by hand', async () => {
  const out = path.join(fx.work, 'gen');
  const r = generate(pipe, out);
  expect(r.stdout).toMatch(/generate: 2 images \(16x16\)/);
  const side = JSON.parse(fs.readFileSync(path.join(out, '0-0.json'), 'utf8'));
  expect(side.vae_weights).toBe(path.join('vae', 'diffusion_pytorch_model.safetensors'));
  expect(side.vae_weights_sha256).toMatch(/^[0-9a-f]{64}$/);

  // By hand: DDIM over 4-channel 8x8 latents, then decode(latents / scaling_factor) with a VAE
  // built separately from the files, the RGB mean, 8 bits.
  const gen = await loadGenerator(pipe);
  expect(gen.decoder.sampleShape).toEqual([4, 8, 8]);
  const latents = await sampleDdim(gen.unet, await gen.encode(PROMPTS), await gen.encodeUnconditional(), {
    shape: [2, 4, 8, 8],
    steps: 3,
    eta: 0,
    guidanceScale: 2,
    seed: 7,
    scheduler: gen.scheduler,
  });
  const vae = createVaeFromFile(path.join(pipe, 'vae', 'config.json'));
  loadVaeWeights(vae, path.join(pipe, 'vae', 'diffusion_pytorch_model.safetensors'));
  const decoded = vae.decode({ data: latents.images.map((v) => v / SCALING), shape: [2, 4, 8, 8] });
  expect(decoded.shape).toEqual([2, 3, 16, 16]);
  const want = toBytes(channelMean(decoded.data, 2, 3));
  for (let i = 0; i < 2; i++) {
    const { data } = await sharp(path.join(out, `${i}-0.png`))
      .grayscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(Array.from(data)).toEqual(Array.from(want.subarray(i * 256, (i + 1) * 256)));
  }
});

test('generate --height/--width: another size, in multiples of the UNet x VAE downsampling', async () => {
  const out = path.join(fx.work, 'gen-size');
  const r = fx.ok([
    'generate',
    '--checkpoint',
    pipe,
    '--prompt',
    PROMPTS[0],
    '--steps',
    '2',
    '--height',
    '32',
    '--width',
    '20',
    '--out',
    out,
  ]);
  expect(r.stdout).toMatch(/generate: 1 images \(20x32\)/);
  const meta = await sharp(path.join(out, '0-0.png')).metadata();
  expect([meta.width, meta.height]).toEqual([20, 32]);
  expect(JSON.parse(fs.readFileSync(path.join(out, '0-0.json'), 'utf8'))).toMatchObject({ height: 32, width: 20 });
  const bad = runCli(
    ['generate', '--checkpoint', pipe, '--prompt', 'x', '--width', '18', '--out', path.join(fx.work, 'y')],
    fx.env(),
  );
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/--width 18: this model makes images whose sides are positive multiples of 4/);
});

test('train --stage rl runs an epoch on the latent pipeline; its checkpoint is a pipeline that generate and eval read', () => {
  const run = path.join(fx.work, 'rl');
  rlEpoch(run);
  const ckpt = path.join(run, 'checkpoint');
  const lines = readMetrics(run);
  const epoch = lines.find((m) => m.kind === 'epoch')!;
  expect(epoch.images).toBe(4);
  expect(Number.isFinite(epoch.reward.total)).toBe(true);
  expect(Number.isFinite(epoch.grad_norm) && epoch.grad_norm > 0).toBe(true);
  for (const f of ['unet/config.json', 'unet/diffusion_pytorch_model.safetensors', 'ace.safetensors', 'samples'])
    expect(fs.existsSync(path.join(f === 'samples' ? run : ckpt, f))).toBe(true);
  // The frozen parts are hard links of the init's files, not copies.
  const vaeW = 'vae/diffusion_pytorch_model.safetensors';
  expect(fs.statSync(path.join(ckpt, vaeW)).ino).toBe(fs.statSync(path.join(pipe, vaeW)).ino);

  const out = path.join(fx.work, 'gen-rl');
  expect(generate(run, out).stdout).toMatch(/generate: 2 images \(16x16\)/);
  const side = JSON.parse(fs.readFileSync(path.join(out, '0-0.json'), 'utf8'));
  expect(side.ace_tokens).toBe(4);
  expect(side.model_kind).toBe('diffusers');

  const reports = loadReports(fx.data, 'test').slice(0, 4);
  const prompts = path.join(fx.work, 'eval-reports.txt');
  fs.writeFileSync(prompts, reports.map((r) => r.text).join('\n') + '\n');
  const evalOut = path.join(fx.work, 'eval');
  const e = fx.ok([
    'eval',
    '--data',
    fx.data,
    '--rewards',
    fx.rewards,
    '--features',
    path.join(fx.rewards, 'classifier-features.onnx'),
    '--reports',
    '4',
    '--n-per-report',
    '1',
    '--steps',
    '3',
    '--bootstrap',
    '20',
    '--models',
    `init=${pipe},rl=${run}`,
    '--out',
    evalOut,
  ]);
  expect(e.stdout).toMatch(/\| init \|/);
  const j = JSON.parse(fs.readFileSync(path.join(evalOut, 'eval.json'), 'utf8'));
  expect(j.models.map((m: { name: string }) => m.name)).toEqual(['init', 'rl']);
  for (const m of j.models) expect(Number.isFinite(m.metrics.fid.value)).toBe(true);
  // The UNet folder alone samples latents it cannot decode: refused, naming the fix.
  const bare = runCli(
    [
      'generate',
      '--checkpoint',
      path.join(pipe, 'unet'),
      '--text-encoder',
      path.join(pipe, 'text_encoder', 'model.onnx'),
      '--tokenizer',
      path.join(pipe, 'tokenizer'),
      '--prompt',
      'x',
      '--out',
      path.join(fx.work, 'x'),
    ],
    fx.env(),
  );
  expect(bare.status).toBe(2);
  expect(bare.stderr).toMatch(/4 input channels samples latents; give the pipeline folder \(with vae\/\)/);
});

test('train --stage rl --lora-rank trains adapters only: the checkpoint links the base weights and generate applies the adapters', async () => {
  const run = path.join(fx.work, 'rl-lora');
  rlEpoch(run, '--lora-rank', '2', '--lr', '1e-2');
  const ckpt = path.join(run, 'checkpoint'),
    unetW = path.join('unet', 'diffusion_pytorch_model.safetensors');
  expect(fs.statSync(path.join(ckpt, unetW)).ino).toBe(fs.statSync(path.join(pipe, unetW)).ino);
  const lora = readSafetensors(path.join(ckpt, LORA_FILE));
  const keys = Object.keys(lora.tensors);
  expect(keys.length).toBeGreaterThan(0);
  expect(keys.every((k) => /^unet\..*\.(to_q|to_k|to_v|to_out\.0)\.lora_[AB]\.weight$/.test(k))).toBe(true);
  const trainedB = keys
    .filter((k) => k.endsWith('lora_B.weight'))
    .some((k) => lora.tensors[k].data.some((v) => v !== 0));
  expect(trainedB).toBe(true);

  const tuned = await loadGenerator(run),
    base = await loadGenerator(pipe);
  expect(tuned.unet.loraRank()).toBe(2);
  expect(tuned.loraFile).toBe(path.join(ckpt, LORA_FILE));
  const x = {
    sample: { data: new Float32Array(2 * 4 * 8 * 8).fill(0.5), shape: [2, 4, 8, 8] },
    timestep: { data: Float32Array.from([100, 900]), shape: [2] },
    encoderHiddenStates: (await base.encodeText(PROMPTS)).context,
  };
  const d = tuned.unet.forward(x).data,
    b = base.unet.forward(x).data;
  expect(d.some((v, i) => v !== b[i])).toBe(true);
  const out = path.join(fx.work, 'gen-lora');
  generate(run, out);
  expect(JSON.parse(fs.readFileSync(path.join(out, '0-0.json'), 'utf8')).lora_sha256).toMatch(/^[0-9a-f]{64}$/);
});
