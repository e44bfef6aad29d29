/**
 * `train --stage rl` end to end on a micro model: a run resumed from its checkpoint ends
 * bit-identical to an uninterrupted one; `generate` reads the result; bad input is refused with one
 * line and exit 2 before anything is written; a NaN reward stops the epoch with a message naming it.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadGenerator } from '../src/generation/generator';
import type { RewardScorer } from '../src/rewards/scorer';
import { loadAddon } from '../src/engine/native';
import { AceTokens } from '../src/rl/ace';
import { PerPromptStatTracker } from '../src/rl/advantages';
import { loadReports } from '../src/rl/prompts';
import { RL_DEFAULTS } from '../src/rl/settings';
import { RlTrainer } from '../src/rl/trainer';
import { CliFixture, makeCliFixture } from './fixtures';
import { readMetrics, ROOT, runCli } from './helpers';

jest.setTimeout(600000);

let work: string, data: string, init: string, rewards: string, env: CliFixture['env'], ok: CliFixture['ok'];

beforeAll(() => {
  ({ work, data, init, rewards, env, ok } = makeCliFixture('rl-cli', { studies: 60, rewards: true }));
});

const RL = [
  '--prompts-per-epoch',
  '2',
  '--samples-per-prompt',
  '2',
  '--sample-steps',
  '4',
  '--train-batch-size',
  '2',
  '--eval-reports',
  '4',
  '--eval-every',
  '2',
];
/** args with --flag set to value (replacing an earlier value: the CLI refuses a repeated flag). */
function setFlag(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  return i >= 0 ? [...args.slice(0, i + 1), value, ...args.slice(i + 2)] : [...args, flag, value];
}

const rl = (out: string, ...extra: string[]) => [
  'train',
  '--stage',
  'rl',
  '--init',
  init,
  '--rewards',
  rewards,
  '--data',
  data,
  '--out',
  out,
  ...RL,
  ...extra,
];

function epochLines(run: string): object[] {
  return readMetrics(run)
    .filter((m) => m.kind === 'epoch')
    .map(({ seconds: _s, images_per_second: _ips, ...rest }) => rest);
}

test('a resumed run ends bit-identical to an uninterrupted one; generate reads the result', () => {
  const straight = path.join(work, 'straight'),
    split = path.join(work, 'split');
  ok(rl(straight, '--epochs', '3'));
  ok(rl(split, '--epochs', '1'));
  const r = ok([
    'train',
    '--stage',
    'rl',
    '--data',
    data,
    '--out',
    split,
    '--resume',
    '--rewards',
    rewards,
    ...RL,
    '--epochs',
    '3',
  ]);
  expect(r.stderr).toMatch(/resuming .* after epoch 1/);
  // Every epoch redraws metrics.png: reward, PPO statistics and the held-out comparison panels.
  const png = fs.readFileSync(path.join(straight, 'metrics.png'));
  expect([png.subarray(1, 4).toString(), png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual(['PNG', 1120, 600]);
  for (const f of ['unet.safetensors', 'ace.safetensors', 'ace_optimizer.safetensors', 'optimizer.safetensors']) {
    expect(
      fs.readFileSync(path.join(split, 'checkpoint', f)).equals(fs.readFileSync(path.join(straight, 'checkpoint', f))),
    ).toBe(true);
  }
  const a = JSON.parse(fs.readFileSync(path.join(straight, 'checkpoint', 'state.json'), 'utf8'));
  const b = JSON.parse(fs.readFileSync(path.join(split, 'checkpoint', 'state.json'), 'utf8'));
  expect(b.state).toEqual(a.state);
  expect(b.tracker).toEqual(a.tracker);
  expect(epochLines(split)).toEqual(epochLines(straight));
  // The policy has moved away from the init.
  expect(
    fs
      .readFileSync(path.join(straight, 'checkpoint', 'unet.safetensors'))
      .equals(fs.readFileSync(path.join(init, 'unet_ema.safetensors'))),
  ).toBe(false);
  expect(fs.existsSync(path.join(straight, 'samples', 'epoch-2.png'))).toBe(true);
  const evals = readMetrics(straight).filter((m) => m.kind === 'eval');
  expect(evals.map((e) => e.epoch)).toEqual([2, 3]);
  for (const k of ['r_align', 's_diag', 's_cons', 'total'])
    expect(Number.isFinite(evals[0].components[k].t)).toBe(true);

  const gen = path.join(work, 'gen');
  ok(['generate', '--checkpoint', straight, '--prompt', 'Mild cardiomegaly.', '--steps', '3', '--out', gen]);
  const side = JSON.parse(fs.readFileSync(path.join(gen, '0-0.json'), 'utf8'));
  expect(side.ace_tokens).toBe(RL_DEFAULTS.aceTokens);
  expect(side.weights).toBe('unet.safetensors');
});

test.each([
  [
    '--init that is not a model',
    (out: string) => ['train', '--stage', 'rl', '--init', data, '--rewards', rewards, '--data', data, '--out', out],
    /not a checkpoint/,
  ],
  [
    'no --init',
    (out: string) => ['train', '--stage', 'rl', '--rewards', rewards, '--data', data, '--out', out],
    /needs --init MODEL/,
  ],
  [
    'k < 1',
    (out: string) => setFlag(rl(out), '--samples-per-prompt', '0'),
    /--samples-per-prompt must be a positive integer/,
  ],
  ['lr 0', (out: string) => rl(out, '--lr', '0'), /--lr must be a finite number > 0/],
  ['lr NaN', (out: string) => rl(out, '--lr', 'NaN'), /--lr must be a finite number > 0/],
  ['eta 0', (out: string) => rl(out, '--eta', '0'), /--eta must be above 0 for RL/],
  [
    'guidance NaN',
    (out: string) => rl(out, '--guidance-scale', 'abc'),
    /--guidance-scale must be a finite number >= 0/,
  ],
  [
    'group advantages with k = 1',
    (out: string) => setFlag(rl(out, '--advantage', 'group'), '--samples-per-prompt', '1'),
    /--advantage group needs/,
  ],
  [
    'a repeated flag',
    (out: string) => rl(out, '--samples-per-prompt', '1'),
    /--samples-per-prompt is given more than once/,
  ],
  [
    'a weighted reward without its model',
    (out: string) => [
      'train',
      '--stage',
      'rl',
      '--init',
      init,
      '--rewards',
      path.join(rewards, 'posture.onnx'),
      '--data',
      data,
      '--out',
      out,
      ...RL,
    ],
    /diag weight 1, but no classifier model/,
  ],
  [
    'bad reward weights',
    (out: string) => rl(out, '--reward-weights', 'align=x'),
    /--reward-weights: align must be a finite number/,
  ],
])('bad input: %s', (_name, args, message) => {
  const out = path.join(work, `bad-${Math.random().toString(36).slice(2)}`);
  const r = runCli(args(out), env());
  expect(r.status).toBe(2);
  expect(r.stderr.trim().split('\n').pop()).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /); // one line, no stack trace
  expect(fs.existsSync(out)).toBe(false);
});

test('an existing run is not overwritten; --resume refuses changed settings, naming them', () => {
  const out = path.join(work, 'straight');
  const before = fs.readFileSync(path.join(out, 'checkpoint', 'unet.safetensors'));
  const again = runCli(rl(out, '--epochs', '1'), env());
  expect(again.status).toBe(2);
  expect(again.stderr).toMatch(/already holds a run: add --resume/);
  const changed = runCli(
    [
      'train',
      '--stage',
      'rl',
      '--data',
      data,
      '--out',
      out,
      '--resume',
      '--rewards',
      rewards,
      ...RL,
      '--epochs',
      '4',
      '--lr',
      '1e-3',
      '--clip-range',
      '0.2',
    ],
    env(),
  );
  expect(changed.status).toBe(2);
  expect(changed.stderr).toMatch(/--resume with changed settings \(only --epochs, --eval-every may change\)/);
  expect(changed.stderr).toMatch(/lr: 0.00005 in the checkpoint, 0.001 now/);
  expect(changed.stderr).toMatch(/clipRange: 0.0001 in the checkpoint, 0.2 now/);
  expect(fs.readFileSync(path.join(out, 'checkpoint', 'unet.safetensors')).equals(before)).toBe(true);
});

test('SIGTERM stops at the end of the epoch with a checkpoint and exit 143; --resume finishes the run', async () => {
  const out = path.join(work, 'sigterm');
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'cxrl-native'), ...setFlag(rl(out, '--epochs', '3'), '--eval-every', '5')],
    {
      env: { ...process.env, ...env() },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no progress within 120 s:\n${stderr}`));
    }, 120000);
    let sent = false;
    child.stderr.on('data', () => {
      if (!sent && /epoch 1\/3 sampling/.test(stderr)) {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  expect(code).toBe(143);
  expect(stderr).toMatch(/SIGTERM: saving a checkpoint at the end of this epoch/);
  const st = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8'));
  expect(st.state.epoch).toBe(1);
  const resume = ['train', '--stage', 'rl', '--data', data, '--out', out, '--resume', '--rewards', rewards, ...RL];
  ok(setFlag(setFlag(resume, '--epochs', '3'), '--eval-every', '5'));
  expect(JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')).state.epoch).toBe(3);
  expect(epochLines(out).map((m) => (m as { epoch: number }).epoch)).toEqual([1, 2, 3]);
});

test('a NaN reward stops the epoch with a message naming it', async () => {
  const policy = await loadGenerator(init),
    anchor = await loadGenerator(init);
  const nanScorer = {
    scoreGenerated: async (_x: Float32Array, B: number) => ({
      perImage: Array.from({ length: B }, () => ({ r_align: NaN, s_diag: -1, s_cons: 0.1 })),
      means: {},
    }),
  } as unknown as RewardScorer;
  const settings = {
    ...RL_DEFAULTS,
    promptsPerEpoch: 2,
    sampleSteps: 3,
    trainBatchSize: 2,
    aceLr: 1e-4,
    textLength: 12,
  };
  const optimizer = new (loadAddon().Optimizer)(policy.unet, { lr: 1e-5 });
  const trainer = new RlTrainer(
    policy,
    anchor,
    nanScorer,
    optimizer,
    AceTokens.init(4, 16, 1),
    new PerPromptStatTracker(),
    settings,
    { epoch: 0, step: 0, cursor: { pass: 0, offset: 0 } },
  );
  await expect(trainer.epoch(loadReports(data, 'train'))).rejects.toThrow(
    /epoch 1: the reward is not finite \(NaN\); the run stops here and keeps its last good checkpoint/,
  );
  expect(trainer.state.epoch).toBe(0);
});
