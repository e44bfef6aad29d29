/**
 * `eval` end to end on a micro model: a model folder and the same model's images from `generate`
 * (same seeds) give the same numbers; real images copied as a "generator" sit at the real-vs-real
 * FID floor and noise far above it; a classifier-perfect case gives AUROC 1; bad input is refused.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { macroAuroc } from '../src/eval/generated-metrics';
import { parseModelSpecs } from '../src/eval/run-eval';
import { emptyLabels, NEGATIVE, POSITIVE } from '../src/data/labels';
import { loadMimic } from '../src/data/mimic';
import { loadReports } from '../src/rl/prompts';
import { Rng } from '../src/util/random';
import { CliFixture, makeCliFixture } from './fixtures';
import { runCli } from './helpers';

jest.setTimeout(600000);

let work: string, data: string, init: string, rewards: string, env: CliFixture['env'], ok: CliFixture['ok'];

beforeAll(() => {
  ({ work, data, init, rewards, env, ok } = makeCliFixture('eval-cli', { studies: 80, rewards: true }));
});

const FEATURES = () => path.join(rewards, 'classifier-features.onnx');
const common = (out: string, reports = '6', k = '2') => [
  'eval',
  '--data',
  data,
  '--rewards',
  rewards,
  '--features',
  FEATURES(),
  '--reports',
  reports,
  '--n-per-report',
  k,
  '--steps',
  '3',
  '--batch-size',
  '4',
  '--bootstrap',
  '50',
  '--out',
  out,
];

test('a model and its generate output give the same numbers; every output file is written', () => {
  const reports = loadReports(data, 'test').slice(0, 6);
  const prompts = path.join(work, 'prompts.txt');
  fs.writeFileSync(prompts, reports.map((r) => r.text).join('\n') + '\n');
  const gen = path.join(work, 'gen');
  ok([
    'generate',
    '--checkpoint',
    init,
    '--prompts',
    prompts,
    '--n',
    '2',
    '--steps',
    '3',
    '--batch-size',
    '4',
    '--out',
    gen,
  ]);
  const out = path.join(work, 'eval-same');
  const r = ok([...common(out), '--models', `model=${init},images=images:${gen}`]);
  expect(r.stdout).toMatch(
    /\| model \| posture r_align ↑ \| classification AUROC ↑ \| consistency s_cons ↑ \| FID ↓ \| MS-SSIM ↓ \| KID ↓ \| seconds \|/,
  );
  const j = JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8'));
  const [a, b] = j.models;
  for (const m of ['posture', 'auroc', 'consistency', 'fid', 'kid', 'msssim']) {
    expect(a.metrics[m].value).not.toBeNull();
    expect(b.metrics[m].value).toBeCloseTo(a.metrics[m].value, 10);
  }
  expect(j.real_vs_real.fid).toBeGreaterThan(0);
  for (const f of ['eval.md', 'posture.png', 'fid.png', 'msssim.png', 'images/model/0-0.png', 'images/model/0-0.json'])
    expect(fs.existsSync(path.join(out, f))).toBe(true);
  // eval refuses to write into its own (non-empty) output folder again.
  const again = runCli([...common(out), '--models', `model=${init}`], env());
  expect(again.status).toBe(2);
  expect(again.stderr).toMatch(/is not empty: choose another --out, or add --overwrite/);
});

test('real images as a generator sit near the real-vs-real floor; noise is far above it', async () => {
  const reports = loadReports(data, 'test').slice(0, 8);
  const records = loadMimic({ root: data, splits: ['test'] }).records;
  const realDir = path.join(work, 'real-as-gen'),
    noiseDir = path.join(work, 'noise');
  fs.mkdirSync(realDir);
  fs.mkdirSync(noiseDir);
  const rng = new Rng(3);
  for (const [i, r] of reports.entries()) {
    const rec = records.find((x) => x.studyId === r.studyId)!;
    await sharp(rec.imageFile)
      .grayscale()
      .resize(16, 16)
      .png()
      .toFile(path.join(realDir, `${i}.png`));
    const noise = Buffer.from(Array.from({ length: 256 }, () => rng.int(0, 255)));
    await sharp(noise, { raw: { width: 16, height: 16, channels: 1 } })
      .png()
      .toFile(path.join(noiseDir, `${i}.png`));
    for (const d of [realDir, noiseDir])
      fs.writeFileSync(path.join(d, `${i}.json`), JSON.stringify({ prompt: r.text }));
  }
  const out = path.join(work, 'eval-real');
  ok([
    ...common(out, '8', '1'),
    '--models',
    `anchor=${init},real=images:${realDir},noise=images:${noiseDir}`,
    '--metrics',
    'fid,kid',
  ]);
  const j = JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8'));
  const fid = Object.fromEntries(
    j.models.map((m: { name: string; metrics: { fid: { value: number } } }) => [m.name, m.metrics.fid.value]),
  );
  console.log(
    `FID: real-vs-real floor ${j.real_vs_real.fid.toFixed(3)}, real images ${fid.real.toFixed(3)}, noise ${fid.noise.toFixed(3)}, anchor ${fid.anchor.toFixed(3)}`,
  );
  expect(fid.noise).toBeGreaterThan(3 * fid.real);
  expect(fid.real).toBeLessThan(3 * j.real_vs_real.fid);
});

test('AUROC is 1 for a classifier that reads the labels exactly', () => {
  const labels = [0, 1, 2, 3].map((r) => {
    const l = emptyLabels();
    l[1] = r % 2 ? POSITIVE : NEGATIVE;
    l[8] = r < 2 ? POSITIVE : NEGATIVE;
    return l;
  });
  const probs = labels.flatMap((l) =>
    [0, 1].map(() => Array.from(l, (v) => (v === POSITIVE ? 0.9 : v === NEGATIVE ? 0.1 : NaN))),
  );
  const a = macroAuroc(probs, labels, 2, [0, 1, 2, 3]);
  expect(a.macro).toBe(1);
  expect(Object.values(a.byLabel).filter((v) => v !== null)).toHaveLength(2);
});

test.each([
  ['a model path that is not a model', (out: string) => [...common(out), '--models', `x=${data}`], /not a checkpoint/],
  [
    'an images folder without sidecars',
    (out: string) => [...common(out), '--models', `x=images:${path.join(rewards)}`],
    /no images with .json sidecars/,
  ],
  [
    'a features model of the wrong kind',
    (out: string) =>
      [...common(out), '--models', `x=${init}`].map((v) =>
        v === FEATURES() ? path.join(rewards, 'classifier.onnx') : v,
      ),
    /a classifier model; --features needs .* kind "features"/,
  ],
  [
    'too few reports',
    (out: string) => [...common(out, '5000'), '--models', `x=${init}`],
    /--reports 5000 needs that many/,
  ],
  [
    'an unknown metric',
    (out: string) => [...common(out), '--models', `x=${init}`, '--metrics', 'fid,iou'],
    /unknown metric "iou"/,
  ],
  [
    'a malformed model list',
    (out: string) => [...common(out), '--models', 'just-a-path'],
    /"just-a-path" is not NAME=PATH/,
  ],
])('bad input: %s', (_name, args, message) => {
  const out = path.join(work, `bad-${Math.random().toString(36).slice(2)}`);
  const r = runCli(args(out), env());
  expect(r.status).toBe(2);
  expect(r.stderr.trim().split('\n').pop()).toMatch(message);
  expect(fs.existsSync(path.join(out, 'eval.json'))).toBe(false);
});

test('model specs parse; names must be unique', () => {
  expect(parseModelSpecs('a=x,b=images:y')).toEqual([
    { name: 'a', path: 'x', images: false },
    { name: 'b', path: 'y', images: true },
  ]);
  expect(() => parseModelSpecs('a=x,a=y')).toThrow(/used twice/);
});
