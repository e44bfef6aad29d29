/**
 * Outputs are never replaced by accident: `generate` refuses a non-empty --out unless --overwrite or
 * --resume (which keeps the images made with the same settings, byte for byte), and `reward fit`
 * refuses an existing model unless --overwrite.
 */
import * as fs from 'fs';
import * as path from 'path';
import { runCli, tmpDir } from './helpers';

jest.setTimeout(600000);

const UNET = {
  in_channels: 1,
  out_channels: 1,
  sample_size: 16,
  block_out_channels: [16, 16],
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 1,
  attention_head_dim: 2,
  cross_attention_dim: 16,
  norm_num_groups: 4,
};
let work: string, data: string, init: string;
const env = () => ({ CXRL_CACHE_DIR: path.join(work, 'cache') });
function ok(args: string[]) {
  const r = runCli(args, env());
  if (r.status !== 0) throw new Error(`cxrl-native ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
}

beforeAll(() => {
  work = tmpDir('outputs');
  data = path.join(work, 'data');
  ok(['data', 'synth', '--out', data, '--studies', '30', '--size', '64']);
  fs.writeFileSync(path.join(work, 'unet.json'), JSON.stringify(UNET));
  ok([
    'train',
    '--stage',
    'pretrain',
    '--data',
    data,
    '--out',
    path.join(work, 'pre'),
    '--preset',
    path.join(work, 'unet.json'),
    '--image-size',
    '16',
    '--steps',
    '2',
    '--batch-size',
    '4',
    '--text-length',
    '12',
    '--sample-every',
    '0',
  ]);
  init = path.join(work, 'pre', 'checkpoint');
});

test('generate: refuses a non-empty --out; --resume keeps matching images and makes the rest; --overwrite replaces', () => {
  const out = path.join(work, 'gen');
  const gen = (...extra: string[]) => [
    'generate',
    '--checkpoint',
    init,
    '--prompt',
    'Small left effusion.',
    '--prompt',
    'No acute process.',
    '--n',
    '2',
    '--steps',
    '2',
    '--batch-size',
    '2',
    '--out',
    out,
    ...extra,
  ];
  ok(gen());
  const first = fs.readFileSync(path.join(out, '0-0.png'));
  const again = runCli(gen(), env());
  expect(again.status).toBe(2);
  expect(again.stderr.trim()).toMatch(/is not empty: add --resume to continue it, --overwrite to replace it/);
  expect(fs.readFileSync(path.join(out, '0-0.png')).equals(first)).toBe(true);
  // Remove the second batch's images: --resume remakes exactly them, identical to the first run's.
  const second = fs.readFileSync(path.join(out, '1-0.png'));
  fs.rmSync(path.join(out, '1-0.png'));
  const resumed = ok(gen('--resume'));
  expect(resumed.stderr).toMatch(/1 of 2 batches already in .* with the same settings; kept/);
  expect(fs.readFileSync(path.join(out, '1-0.png')).equals(second)).toBe(true);
  ok(gen('--overwrite', '--seed', '5'));
  expect(fs.readFileSync(path.join(out, '0-0.png')).equals(first)).toBe(false);
  expect(runCli(gen('--overwrite', '--resume'), env()).stderr).toMatch(/not both/);
});

test('reward fit: refuses an existing model unless --overwrite', () => {
  const model = path.join(work, 'posture.onnx');
  const fit = (...extra: string[]) => [
    'reward',
    'fit',
    '--kind',
    'posture',
    '--data',
    data,
    '--out',
    model,
    '--steps',
    '2',
    '--image-size',
    '16',
    '--batch-size',
    '4',
    ...extra,
  ];
  ok(fit());
  const before = fs.readFileSync(model);
  const r = runCli(fit(), env());
  expect(r.status).toBe(2);
  expect(r.stderr.trim()).toMatch(/posture.onnx already exists: add --overwrite to replace it/);
  expect(fs.readFileSync(model).equals(before)).toBe(true);
  ok(fit('--overwrite', '--seed', '3'));
  expect(fs.readFileSync(model).equals(before)).toBe(false);
});
