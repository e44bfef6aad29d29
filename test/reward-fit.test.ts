/**
 * The default reward models end to end on a small synthetic dataset: `reward fit` for each kind
 * (engine training, ONNX export, onnxruntime-vs-engine check, held-out quality floors), `reward
 * score` telling matched from mismatched reports and straight from tilted images, and a model
 * written by PyTorch's torch.onnx.export loading and scoring through the TorchXRayVision contract.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import sharp from 'sharp';
import { CHEXPERT_LABELS, formatLabelCell } from '../src/data/labels';
import { loadMimic, MimicRecord } from '../src/data/mimic';
import { synthesizeDataset } from '../src/data/synth';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { ImageRewardModel } from '../src/rewards/reward-model';
import { writeCsv } from '../src/data/csv';
import { Rng, testSeed } from '../src/util/random';
import { PYTHON, ROOT, runCli, tmpDir } from './helpers';

jest.setTimeout(900000);
const seed = testSeed();
let dir: string, data: string, held: MimicRecord[];
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the fit reports' JSON
type FitReport = any;
const fits: Record<string, FitReport> = {};

const fit = (kind: string, steps: number) => {
  const out = path.join(dir, 'models', `${kind}.onnx`);
  const r = runCli(
    [
      'reward',
      'fit',
      '--kind',
      kind,
      '--data',
      data,
      '--out',
      out,
      '--steps',
      String(steps),
      '--seed',
      String(seed % 1000),
      '--json',
    ],
    { CXRL_CACHE_DIR: path.join(dir, 'cache') },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
};

// Every model is fitted here, so each test below stands alone (none needs another's outputs).
beforeAll(async () => {
  dir = tmpDir('reward-fit');
  data = path.join(dir, 'data');
  await synthesizeDataset({ out: data, studies: 2000, seed: seed % 100000, size: 96 });
  held = loadMimic({ root: data, splits: ['validate', 'test'] }).records;
  fits.classifier = fit('classifier', 1000);
  fits.posture = fit('posture', 600);
  fits.consistency = fit('consistency', 600);
});

test('classifier: held-out macro AUROC >= 0.9 over the rendered labels and >= 0.75 over all; ONNX equals the engine', () => {
  const r = fits.classifier;
  console.log(
    `classifier: macro AUROC ${r.quality.macroAurocRendered.toFixed(3)} (rendered labels), ${r.quality.macroAurocAll.toFixed(3)} (all); onnx max error ${r.onnxMaxError.toExponential(2)}; ${JSON.stringify(r.quality.aurocByLabel)}`,
  );
  expect(r.quality.macroAurocRendered).toBeGreaterThanOrEqual(0.9);
  // onnxMaxError is the product's own report of its export check; the export is checked
  // independently (the test computing both sides) in onnx-export.test.ts.
  // Over every label with both classes held out, including those the phantoms barely draw
  // (measured 0.84-0.87 across seeds): the subset above is the product's choice, this is not.
  expect(r.quality.macroAurocAll).toBeGreaterThanOrEqual(0.75);
  expect(r.onnxMaxError).toBeLessThan(1e-4);
  const contract = JSON.parse(fs.readFileSync(path.join(dir, 'models', 'classifier.onnx.json'), 'utf8'));
  expect(contract.fit.held_out_quality.macroAurocRendered).toBe(r.quality.macroAurocRendered);
});

test('posture: psi error well below the spread of the training transforms and of the recorded poses', () => {
  const r = fits.posture;
  const q = r.quality;
  console.log(
    `posture: warped held-out MAE ${q.augmentedMaeMean.toFixed(4)} vs spread ${q.trainingSpreadMaeMean.toFixed(4)}; recorded poses MAE ${q.truthMaeMean.toFixed(4)} vs spread ${q.truthSpreadMaeMean.toFixed(4)}; onnx ${r.onnxMaxError.toExponential(2)}`,
  );
  expect(q.augmentedMaeMean).toBeLessThan(0.5 * q.trainingSpreadMaeMean);
  // Against the recorded poses: clearly better than predicting the mean pose (whose error is the
  // spread); measured about 0.67 of it.
  expect(q.truthMaeMean).toBeLessThan(0.85 * q.truthSpreadMaeMean);
  expect(r.onnxMaxError).toBeLessThan(1e-4);
});

test('consistency: report-to-image recall@1 among 100 far above chance (1%)', () => {
  const r = fits.consistency;
  console.log(
    `consistency: recall@1 findings ${r.quality.recallAt1Findings.toFixed(3)}, impression ${r.quality.recallAt1Impression.toFixed(3)} over ${r.quality.heldOutStudies} studies; onnx ${r.onnxMaxError.toExponential(2)}`,
  );
  expect(r.quality.heldOutStudies).toBeGreaterThanOrEqual(100);
  expect(r.quality.recallAt1Findings).toBeGreaterThanOrEqual(0.05);
  expect(r.onnxMaxError).toBeLessThan(1e-4);
  expect(fs.existsSync(path.join(dir, 'models', 'consistency-text.onnx.json'))).toBe(true);
});

test('reward score: matched reports beat shuffled ones on s_diag and s_cons; straight images beat tilted ones on r_align', async () => {
  const imgs = path.join(dir, 'score-images'),
    tilted = path.join(dir, 'score-tilted');
  fs.mkdirSync(imgs);
  fs.mkdirSync(tilted);
  const pick = held.slice(0, 60);
  const rows: string[][] = [];
  for (const [i, r] of pick.entries()) {
    const name = `img-${i}.png`;
    await sharp(r.imageFile).png().toFile(path.join(imgs, name));
    await sharp(r.imageFile).rotate(14, { background: '#000' }).png().toFile(path.join(tilted, name));
    rows.push([name, r.text, ...CHEXPERT_LABELS.map((_, k) => formatLabelCell(r.labels[k] as never))]);
  }
  const header = ['image', 'text', ...CHEXPERT_LABELS];
  writeCsv(path.join(dir, 'matched.csv'), header, rows);
  const rng = new Rng(seed);
  const shuffled = rng.shuffle(rows.map((r) => r.slice(1)));
  writeCsv(
    path.join(dir, 'shuffled.csv'),
    header,
    rows.map((r, i) => [r[0], ...shuffled[i]]),
  );
  const score = (images: string, reports: string) => {
    const r = runCli([
      'reward',
      'score',
      '--models',
      path.join(dir, 'models'),
      '--images',
      images,
      '--reports',
      reports,
      '--json',
    ]);
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
  };
  const matched = score(imgs, path.join(dir, 'matched.csv')),
    mism = score(imgs, path.join(dir, 'shuffled.csv')),
    tilt = score(tilted, path.join(dir, 'matched.csv'));
  console.log(
    `score means: matched ${JSON.stringify(matched.means)}; shuffled ${JSON.stringify(mism.means)}; tilted ${JSON.stringify(tilt.means)}`,
  );
  expect(matched.images).toHaveLength(60);
  expect(matched.means.s_diag).toBeGreaterThan(mism.means.s_diag);
  expect(matched.means.s_cons).toBeGreaterThan(mism.means.s_cons);
  expect(matched.means.r_align).toBeGreaterThan(tilt.means.r_align);
  // Without reports: r_align for every image, the classifier's probabilities, and a note on what was skipped.
  const table = runCli(['reward', 'score', '--models', path.join(dir, 'models'), '--images', imgs]);
  expect(table.status).toBe(0);
  expect(table.stderr).toMatch(
    /note: 60 of 60 images have no report text .*: s_diag and s_cons skipped for them; the classifier's probabilities are given instead/,
  );
  expect(table.stdout).toMatch(/img-0.png: classifier \w+/);
  const bare = JSON.parse(
    runCli(['reward', 'score', '--models', path.join(dir, 'models'), '--images', imgs, '--json']).stdout,
  );
  expect(bare.means.s_diag).toBeNull();
  expect(Number.isFinite(bare.means.r_align)).toBe(true);
  expect(Object.keys(bare.images[0].probabilities)).toContain('Cardiomegaly');
  // --device cuda without ONNX Runtime's CUDA provider libraries: one message, then the CPU provider.
  const cuda = runCli([
    'reward',
    'score',
    '--models',
    path.join(dir, 'models'),
    '--images',
    imgs,
    '--reports',
    path.join(dir, 'matched.csv'),
    '--device',
    'cuda',
    '--json',
  ]);
  // Either provider must give the same scores; without the CUDA provider's libraries there is
  // exactly one message about the fallback.
  expect(cuda.status).toBe(0);
  if (!/: cuda"/.test(cuda.stdout)) expect(cuda.stderr.match(/CUDA execution provider not available/g)).toHaveLength(1);
  expect(JSON.parse(cuda.stdout).means.s_diag).toBeCloseTo(matched.means.s_diag, 5);
});

test('a torch.onnx.export model loads through the TorchXRayVision contract and scores like PyTorch', async () => {
  const mdir = path.join(dir, 'xrv');
  fs.mkdirSync(mdir);
  const onnxFile = path.join(mdir, 'xrv-like.onnx');
  const rng = new Rng(seed + 3);
  const B = 4,
    S = 224;
  const images = Float32Array.from({ length: B * S * S }, () => Math.tanh(rng.normal()));
  writeSafetensors(path.join(mdir, 'images.safetensors'), { images: { data: images, shape: [B, 1, S, S] } });
  const r = spawnSync(
    PYTHON,
    [
      path.join(ROOT, 'test', 'reference', 'make_torch_classifier.py'),
      onnxFile,
      path.join(mdir, 'images.safetensors'),
      path.join(mdir, 'expected.safetensors'),
    ],
    { encoding: 'utf8', cwd: path.join(ROOT, 'test', 'reference') },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  const contract = path.join(ROOT, 'src', 'rewards', 'contracts', 'torchxrayvision-densenet121-res224-all.onnx.json');
  fs.copyFileSync(contract, `${onnxFile}.json`);
  const model = await ImageRewardModel.open(onnxFile);
  const got = (await model.run(images, B, S)).probabilities;
  const want = readSafetensors(path.join(mdir, 'expected.safetensors')).tensors.probabilities;
  let err = 0;
  for (let i = 0; i < want.data.length; i++) err = Math.max(err, Math.abs(got.data[i] - want.data[i]));
  console.log(
    `torch.onnx.export classifier through the XRV contract: max abs error vs PyTorch ${err.toExponential(2)}`,
  );
  expect(got.width).toBe(18);
  expect(err).toBeLessThan(1e-5);
  // scoring folder images with it (resized 96 -> 224 by the contract's policy)
  const imgs = path.join(dir, 'score-images');
  const s = runCli([
    'reward',
    'score',
    '--models',
    onnxFile,
    '--images',
    imgs,
    '--reports',
    path.join(dir, 'matched.csv'),
    '--json',
  ]);
  expect(s.status).toBe(0);
  expect(typeof JSON.parse(s.stdout).means.s_diag).toBe('number');
  // a contract that does not fit the file is refused, naming both
  const wrong = JSON.parse(fs.readFileSync(contract, 'utf8'));
  wrong.input.name = 'input';
  fs.writeFileSync(`${onnxFile}.json`, JSON.stringify(wrong));
  await expect(ImageRewardModel.open(onnxFile)).rejects.toThrow(
    /xrv-like.onnx.json: the contract's input "input" is not an input of the ONNX model \(it has image\)/,
  );
});
