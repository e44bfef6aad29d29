/**
 * Generation from a diffusers-format model: a small random UNet written as a diffusers folder
 * (config.json with diffusers' extra keys + diffusion_pytorch_model.safetensors), and a CLIP-style
 * text encoder exported by PyTorch's torch.onnx.export with CLIP tokenizer files. Checks the BPE
 * tokenizer against an independent Python implementation, the ONNX embeddings against PyTorch, and
 * the generate command on a pipeline folder and on a bare UNet folder.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { createUNet } from '../src/engine/unet';
import { OnnxTextEncoder } from '../src/generation/onnx-text-encoder';
import { ClipTokenizer } from '../src/text/clip-tokenizer';
import { runCli, runPython, tmpDir } from './helpers';

jest.setTimeout(300000);

const LENGTH = 16,
  WIDTH = 32;
const PROMPTS = [
  'The heart is enlarged.',
  'Large LEFT pleural effusion,   2cm!',
  '',
  'No acute cardiopulmonary process.',
];
const UNET_CONFIG = {
  _class_name: 'UNet2DConditionModel',
  _diffusers_version: '0.25.0',
  act_fn: 'silu',
  attention_head_dim: 4,
  block_out_channels: [16, 32],
  center_input_sample: false,
  cross_attention_dim: WIDTH,
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 1,
  layers_per_block: 1,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 8,
  out_channels: 1,
  sample_size: 16,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  use_linear_projection: false,
  only_cross_attention: false,
  upcast_attention: false,
  dual_cross_attention: false,
};

let dir: string, pipe: string, ref: { ids: number[][]; embeddings: number[][] };
beforeAll(() => {
  dir = tmpDir('diffusers');
  pipe = path.join(dir, 'pipeline');
  fs.mkdirSync(path.join(pipe, 'unet'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'prompts.json'), JSON.stringify(PROMPTS));
  runPython('make_clip_onnx.py', [pipe, String(LENGTH), String(WIDTH), '3', path.join(dir, 'prompts.json')]);
  ref = JSON.parse(fs.readFileSync(path.join(pipe, 'reference.json'), 'utf8'));
  fs.writeFileSync(path.join(pipe, 'unet', 'config.json'), JSON.stringify(UNET_CONFIG, null, 2));
  createUNet(UNET_CONFIG, 11).saveWeights(path.join(pipe, 'unet', 'diffusion_pytorch_model.safetensors'));
  fs.mkdirSync(path.join(pipe, 'scheduler'));
  fs.writeFileSync(
    path.join(pipe, 'scheduler', 'scheduler_config.json'),
    JSON.stringify({
      _class_name: 'DDIMScheduler',
      beta_start: 0.00085,
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      clip_sample: false,
      num_train_timesteps: 1000,
      set_alpha_to_one: false,
      steps_offset: 1,
      trained_betas: null,
      skip_prk_steps: true,
    }),
  );
});

test('CLIP BPE tokenizer matches an independent Python implementation', () => {
  const tok = ClipTokenizer.load(path.join(pipe, 'tokenizer'));
  expect(tok.maxLength).toBe(LENGTH);
  const { ids, mask } = tok.encodeBatch(PROMPTS);
  const want = ref.ids.flat();
  expect(Array.from(ids)).toEqual(want);
  // BOS + EOS for the empty prompt; mask covers BOS..EOS only.
  expect(Array.from(mask.subarray(2 * LENGTH, 3 * LENGTH)).reduce((a, b) => a + b)).toBe(2);
  expect(() => ClipTokenizer.load(dir)).toThrow(/vocab.json: missing/);
});

test('ONNX text encoder (torch.onnx.export) gives PyTorch embeddings', async () => {
  const enc = await OnnxTextEncoder.open(path.join(pipe, 'text_encoder', 'model.onnx'), path.join(pipe, 'tokenizer'));
  const out = await enc.encode(PROMPTS);
  expect(out.context.shape).toEqual([PROMPTS.length, LENGTH, WIDTH]);
  let maxErr = 0;
  ref.embeddings.flat().forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - out.context.data[i]))));
  console.log(`ONNX text encoder vs PyTorch: max abs error ${maxErr.toExponential(2)}`);
  expect(maxErr).toBeLessThan(1e-4);
  expect(Array.from(out.mask.data).every((m) => m === 1)).toBe(true);
});

test('generate runs a diffusers pipeline folder and a bare UNet folder, deterministically', () => {
  const gen = (out: string, extra: string[] = [], ckpt = pipe) =>
    runCli([
      'generate',
      '--checkpoint',
      ckpt,
      '--prompt',
      PROMPTS[0],
      '--prompt',
      PROMPTS[1],
      '--steps',
      '3',
      '--guidance-scale',
      '2',
      '--seed',
      '4',
      '--out',
      out,
      ...extra,
    ]);
  const a = path.join(dir, 'a'),
    b = path.join(dir, 'b'),
    c = path.join(dir, 'c');
  const ra = gen(a);
  expect(ra.stderr).not.toMatch(/error|Error/);
  expect(ra.status).toBe(0);
  expect(gen(b).status).toBe(0);
  for (const f of ['0-0.png', '1-0.png'])
    expect(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f)))).toBe(true);
  expect(fs.readFileSync(path.join(a, '0-0.png')).equals(fs.readFileSync(path.join(a, '1-0.png')))).toBe(false);
  const side = JSON.parse(fs.readFileSync(path.join(a, '1-0.json'), 'utf8'));
  expect(side).toMatchObject({
    model_kind: 'diffusers',
    weights: 'diffusion_pytorch_model.safetensors',
    prompt: PROMPTS[1],
    steps: 3,
  });
  expect(side.scheduler.beta_schedule).toBe('scaled_linear');
  const weights = fs.readFileSync(path.join(pipe, 'unet', 'diffusion_pytorch_model.safetensors'));
  expect(side.weights_sha256).toBe(crypto.createHash('sha256').update(weights).digest('hex'));

  const unetDir = path.join(pipe, 'unet');
  expect(gen(c, [], unetDir).stderr).toMatch(/needs --text-encoder FILE.onnx and --tokenizer DIR/);
  expect(
    gen(
      c,
      ['--text-encoder', path.join(pipe, 'text_encoder', 'model.onnx'), '--tokenizer', path.join(pipe, 'tokenizer')],
      unetDir,
    ).status,
  ).toBe(0);
  expect(fs.readFileSync(path.join(a, '0-0.png')).equals(fs.readFileSync(path.join(c, '0-0.png')))).toBe(true);

  const wide = path.join(dir, 'wide');
  fs.mkdirSync(wide);
  fs.writeFileSync(path.join(wide, 'config.json'), JSON.stringify({ ...UNET_CONFIG, cross_attention_dim: 48 }));
  createUNet({ ...UNET_CONFIG, cross_attention_dim: 48 }).saveWeights(
    path.join(wide, 'diffusion_pytorch_model.safetensors'),
  );
  expect(
    gen(
      path.join(dir, 'gen-wide'),
      ['--text-encoder', path.join(pipe, 'text_encoder', 'model.onnx'), '--tokenizer', path.join(pipe, 'tokenizer')],
      wide,
    ).stderr,
  ).toMatch(/embeddings of width 32, but .*config.json has cross_attention_dim 48/);
});
