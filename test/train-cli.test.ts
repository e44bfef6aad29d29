/**
 * The train and generate commands end to end on a micro model: checkpoint, metrics, sample grids,
 * refusal to overwrite, exact resumption, Ctrl-C saving a resumable checkpoint, and deterministic
 * generation with sidecars. (Image quality after a real training run is not tested here.)
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { synthesizeDataset } from '../src/data/synth';
import { writeSafetensors } from '../src/io/safetensors';
import { readMetrics, ROOT, runCli, tmpDir } from './helpers';
import { MICRO_UNET } from './fixtures';

jest.setTimeout(600000);

let dir: string, data: string, preset: string;
const common = () => [
  '--data',
  data,
  '--batch-size',
  '4',
  '--image-size',
  '16',
  '--preset',
  preset,
  '--text-length',
  '16',
];
beforeAll(async () => {
  dir = tmpDir('train-cli');
  data = path.join(dir, 'data');
  await synthesizeDataset({ out: data, studies: 30, seed: 2, size: 64 });
  preset = path.join(dir, 'micro.json');
  fs.writeFileSync(preset, JSON.stringify(MICRO_UNET));
  // The model the generate test samples from, made here so that no test needs another's outputs.
  const r = runCli(
    [
      'train',
      '--stage',
      'pretrain',
      ...common(),
      '--out',
      path.join(dir, 'gen-model'),
      '--steps',
      '4',
      '--sample-every',
      '0',
    ],
    { CXRL_CACHE_DIR: path.join(dir, 'cache') },
  );
  if (r.status !== 0) throw new Error(r.stderr);
});

test('train writes checkpoint, metrics and grids; refuses to overwrite; --resume continues exactly', () => {
  const run = path.join(dir, 'run');
  const r = runCli(
    [
      'train',
      '--stage',
      'pretrain',
      ...common(),
      '--out',
      run,
      '--steps',
      '4',
      '--save-every',
      '2',
      '--sample-every',
      '2',
    ],
    { CXRL_CACHE_DIR: path.join(dir, 'cache') },
  );
  expect(r.status).toBe(0);
  expect(fs.readdirSync(path.join(run, 'samples')).sort()).toEqual(['step-2.png', 'step-4.png']);
  expect(readMetrics(run).map((m) => m.step)).toEqual([1, 2, 3, 4]);
  const again = runCli(['train', '--stage', 'pretrain', ...common(), '--out', run, '--steps', '4'], {
    CXRL_CACHE_DIR: path.join(dir, 'cache'),
  });
  expect(again.status).toBe(2);
  expect(again.stderr).toMatch(/already holds a run: add --resume/);
  expect(
    runCli(['train', '--stage', 'pretrain', ...common(), '--out', run, '--resume', '--steps', '6'], {
      CXRL_CACHE_DIR: path.join(dir, 'cache'),
    }).status,
  ).toBe(0);
  const straight = path.join(dir, 'straight');
  expect(
    runCli(['train', '--stage', 'pretrain', ...common(), '--out', straight, '--steps', '6', '--sample-every', '0'], {
      CXRL_CACHE_DIR: path.join(dir, 'cache'),
    }).status,
  ).toBe(0);
  expect(
    fs
      .readFileSync(path.join(run, 'checkpoint', 'unet.safetensors'))
      .equals(fs.readFileSync(path.join(straight, 'checkpoint', 'unet.safetensors'))),
  ).toBe(true);
  expect(
    fs
      .readFileSync(path.join(run, 'checkpoint', 'unet_ema.safetensors'))
      .equals(fs.readFileSync(path.join(straight, 'checkpoint', 'unet_ema.safetensors'))),
  ).toBe(true);
  expect(
    fs
      .readFileSync(path.join(run, 'checkpoint', 'text_encoder.safetensors'))
      .equals(fs.readFileSync(path.join(straight, 'checkpoint', 'text_encoder.safetensors'))),
  ).toBe(true);
  expect(runCli(['train', '--stage', 'rl']).stderr).toMatch(/train --stage rl needs --init MODEL/);
});

test.each([
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)(
  '%s saves a checkpoint at the end of the step and exits %i; resume refuses changed settings, truncates metrics and removes stale temporaries',
  async (signal, exitCode) => {
    const run = path.join(dir, `interrupted-${signal}`);
    const env = { CXRL_CACHE_DIR: path.join(dir, 'cache') };
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'cxrl-native'),
        'train',
        '--stage',
        'pretrain',
        ...common(),
        '--out',
        run,
        '--steps',
        '100000',
        '--sample-every',
        '0',
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    const metrics = path.join(run, 'metrics.jsonl');
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(metrics) || fs.readFileSync(metrics, 'utf8').split('\n').length < 3) {
      if (Date.now() > deadline) throw new Error(`no progress within 60 s; stderr:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill(signal);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect({ code, stderr: stderr.includes(`${signal}: saving a checkpoint`) }).toEqual({
      code: exitCode,
      stderr: true,
    });
    const state = JSON.parse(fs.readFileSync(path.join(run, 'checkpoint', 'state.json'), 'utf8')).state;
    expect(state.step).toBeGreaterThanOrEqual(2);

    // A changed hyper-parameter is refused with the difference named; nothing is written.
    const before = fs.readFileSync(metrics);
    const changed = runCli(
      ['train', '--stage', 'pretrain', ...common(), '--out', run, '--resume', '--lr', '0.01', '--steps', '100'],
      env,
    );
    expect(changed.status).toBe(2);
    expect(changed.stderr).toMatch(/--resume with changed settings .*lr: 0.0005 in the checkpoint, 0.01 now/);
    expect(fs.readFileSync(metrics).equals(before)).toBe(true);

    // As after a kill -9: metrics past the checkpoint and a temporary checkpoint folder left behind.
    fs.appendFileSync(metrics, JSON.stringify({ step: state.step + 1, loss: 1 }) + '\n');
    fs.mkdirSync(path.join(run, '.checkpoint.tmp-99999'));
    const resumed = runCli(
      ['train', '--stage', 'pretrain', ...common(), '--out', run, '--resume', '--steps', String(state.step + 2)],
      env,
    );
    expect(resumed.status).toBe(0);
    const steps = fs
      .readFileSync(metrics, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    expect(steps).toEqual(Array.from({ length: state.step + 2 }, (_, i) => i + 1));
    expect(fs.existsSync(path.join(run, '.checkpoint.tmp-99999'))).toBe(false);
  },
  120_000,
);

test('a folder with metrics.jsonl but no checkpoint is not appended to; a bad --image-size writes nothing', () => {
  const run = path.join(dir, 'stale-metrics');
  fs.mkdirSync(run);
  fs.writeFileSync(path.join(run, 'metrics.jsonl'), '{"step":1}\n');
  const r = runCli(['train', '--stage', 'pretrain', ...common(), '--out', run, '--steps', '1'], {
    CXRL_CACHE_DIR: path.join(dir, 'cache'),
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/already holds a run/);
  expect(fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')).toBe('{"step":1}\n');
  const odd = path.join(dir, 'odd-size');
  const bad = runCli(
    [
      'train',
      '--stage',
      'pretrain',
      '--data',
      data,
      '--out',
      odd,
      '--image-size',
      '50',
      '--preset',
      'small',
      '--steps',
      '1',
    ],
    { CXRL_CACHE_DIR: path.join(dir, 'cache') },
  );
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/sample_size" 50 must be a multiple of/);
  expect(fs.existsSync(odd)).toBe(false);
});

test('generate writes PNGs with sidecars, deterministically; bad input is refused', () => {
  const ckpt = path.join(dir, 'gen-model', 'checkpoint');
  const prompts = path.join(dir, 'prompts.jsonl');
  fs.writeFileSync(prompts, '{"text": "The heart is enlarged."}\n{"report": "Small left pleural effusion."}\n');
  const gen = (out: string, checkpoint = ckpt, last = '--grid') =>
    runCli([
      'generate',
      '--checkpoint',
      checkpoint,
      '--prompts',
      prompts,
      '--n',
      '2',
      '--steps',
      '4',
      '--guidance-scale',
      '3',
      '--seed',
      '5',
      '--out',
      out,
      last,
    ]);
  const a = path.join(dir, 'gen-a'),
    b = path.join(dir, 'gen-b');
  expect(gen(a).status).toBe(0);
  expect(gen(b).status).toBe(0);
  expect(fs.readdirSync(a).sort()).toEqual([
    '0-0.json',
    '0-0.png',
    '0-1.json',
    '0-1.png',
    '1-0.json',
    '1-0.png',
    '1-1.json',
    '1-1.png',
    'grid.png',
  ]);
  for (const f of ['0-0.png', '1-1.png'])
    expect(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f)))).toBe(true);
  const side = JSON.parse(fs.readFileSync(path.join(a, '1-0.json'), 'utf8'));
  expect(side).toMatchObject({
    prompt: 'Small left pleural effusion.',
    prompt_index: 1,
    sample_index: 0,
    seed: 5,
    steps: 4,
    guidance_scale: 3,
  });
  expect(side.weights_sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(fs.readFileSync(path.join(a, '0-0.png')).equals(fs.readFileSync(path.join(a, '0-1.png')))).toBe(false);
  expect(
    runCli(['generate', '--checkpoint', dir, '--prompt', 'x', '--out', path.join(dir, 'gen-none')]).stderr,
  ).toMatch(/not a checkpoint/);
  // ACE tokens in the checkpoint are appended to the prompt tokens.
  const withAce = path.join(dir, 'with-ace');
  fs.cpSync(ckpt, withAce, { recursive: true });
  const K = 4,
    D = 16;
  writeSafetensors(path.join(withAce, 'ace.safetensors'), {
    ace_tokens: { data: Float32Array.from({ length: K * D }, (_, i) => Math.sin(i)), shape: [K, D] },
  });
  const c = path.join(dir, 'gen-ace');
  expect(gen(c).status).toBe(0); // the original checkpoint again, into c
  expect(gen(c, withAce, '--overwrite').status).toBe(0);
  expect(JSON.parse(fs.readFileSync(path.join(c, '0-0.json'), 'utf8')).ace_tokens).toBe(K);
  expect(fs.readFileSync(path.join(a, '0-0.png')).equals(fs.readFileSync(path.join(c, '0-0.png')))).toBe(false);
  expect(runCli(['generate', '--checkpoint', ckpt, '--out', a]).stderr).toMatch(/give --prompt TEXT or --prompts FILE/);
});
