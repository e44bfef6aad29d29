/**
 * Reward-model building blocks: the contrastive loss, masked BCE and mean-pool backward against
 * finite differences; AUROC against a brute-force pair count; recall@1; the reward formulas; the
 * rule-based labeler on hand-written sentences and against the synthetic dataset's label table;
 * the posture target's identity cases; contract validation errors, each naming the file and field.
 */
import * as fs from 'fs';
import * as path from 'path';
import { synthesizeDataset } from '../src/data/synth';
import { loadMimic } from '../src/data/mimic';
import { CHEXPERT_LABELS, labelIndex, NEGATIVE, NOT_MENTIONED, POSITIVE, UNCERTAIN } from '../src/data/labels';
import { checkAgainstModel, checkContract, readContract } from '../src/rewards/contract';
import { maskedBce } from '../src/rewards/fit/classifier';
import { infoNce, meanPool, meanPoolBackward } from '../src/rewards/fit/consistency';
import { truePsi } from '../src/rewards/fit/data';
import { labelReport } from '../src/rewards/labeler';
import { auroc, recallAtK } from '../src/rewards/metrics';
import { cosine, rAlign, sDiag } from '../src/rewards/scores';
import { Rng, testSeed } from '../src/util/random';
import { tmpDir } from './helpers';

const seed = testSeed();

/** Max relative error of an analytic gradient against central differences of f over all entries. */
function fdCheck(x: Float32Array, f: (x: Float32Array) => number, grad: Float32Array, eps = 1e-3): number {
  let worst = 0,
    scale = 0;
  for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(grad[i]));
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + eps;
    const up = f(x);
    x[i] = keep - eps;
    const down = f(x);
    x[i] = keep;
    worst = Math.max(worst, Math.abs((up - down) / (2 * eps) - grad[i]) / Math.max(scale, 1e-8));
  }
  return worst;
}

test('InfoNCE, masked BCE and mean pooling: gradients match finite differences', () => {
  const rng = new Rng(seed);
  const B = 5,
    D = 6,
    L = 4;
  const a = Float32Array.from({ length: B * D }, () => rng.normal()),
    b = Float32Array.from({ length: B * D }, () => rng.normal());
  const { ga, gb } = infoNce(a, b, B, D);
  const ea = fdCheck(a, (x) => infoNce(x, b, B, D).loss, ga),
    eb = fdCheck(b, (x) => infoNce(a, x, B, D).loss, gb);
  const z = Float32Array.from({ length: B * 14 }, () => 2 * rng.normal());
  const labels = Array.from({ length: B }, () =>
    Int8Array.from({ length: 14 }, () => [POSITIVE, NEGATIVE, UNCERTAIN, NOT_MENTIONED][rng.int(0, 3)]),
  );
  const eBce = fdCheck(z, (x) => maskedBce(x, labels, 14).loss, maskedBce(z, labels, 14).grad);
  const tokens = Float32Array.from({ length: B * L * D }, () => rng.normal());
  const mask = Float32Array.from({ length: B * L }, (_, i) => (i % L === 0 || rng.uniform() < 0.6 ? 1 : 0));
  const w = Float32Array.from({ length: B * D }, () => rng.normal());
  const pooledDot = (t: Float32Array) => meanPool(t, mask, B, L, D).reduce((s, v, i) => s + v * w[i], 0);
  const ePool = fdCheck(tokens, pooledDot, meanPoolBackward(w, mask, B, L, D));
  console.log(
    `FD max rel error: InfoNCE images ${ea.toExponential(2)}, texts ${eb.toExponential(2)}; masked BCE ${eBce.toExponential(2)}; mean pool ${ePool.toExponential(2)}`,
  );
  for (const e of [ea, eb, eBce, ePool]) expect(e).toBeLessThan(2e-3);
  // uncertain / unmentioned entries get no gradient
  const g = maskedBce(z, labels, 14).grad;
  labels.forEach((l, i) =>
    l.forEach((y, k) => {
      if (y !== POSITIVE && y !== NEGATIVE) expect(g[i * 14 + k]).toBe(0);
    }),
  );
});

test('AUROC equals the brute-force pair count; recall@1 counts ties against', () => {
  const rng = new Rng(seed + 1);
  const s = Array.from({ length: 60 }, () => Math.round(rng.normal() * 4) / 4),
    pos = s.map(() => rng.uniform() < 0.4);
  let wins = 0,
    pairs = 0;
  s.forEach((si, i) =>
    s.forEach((sj, j) => {
      if (pos[i] && !pos[j]) {
        pairs++;
        wins += si > sj ? 1 : si === sj ? 0.5 : 0;
      }
    }),
  );
  expect(auroc(s, pos)).toBeCloseTo(wins / pairs, 12);
  expect(auroc([1, 2], [true, true])).toBeNaN();
  // 3 reports x 3 images: report 0 ties with image 1 (a miss), report 1 and 2 hit.
  expect(recallAtK(Float64Array.from([0.5, 0.5, 0.1, 0.2, 0.9, 0.1, 0, 0, 1]), 3, 1)).toBeCloseTo(2 / 3, 12);
});

test('reward formulas: r_align is 0 at the identity, s_diag is the mean log-likelihood of known labels, s_cons is a cosine', () => {
  expect(rAlign([1, 1, 0, 0, 0])).toBe(-0);
  expect(rAlign([1.1, 0.9, 0.05, -0.05, 0.1])).toBeCloseTo(-0.4, 12);
  const labels = new Int8Array(14).fill(NOT_MENTIONED);
  labels[1] = POSITIVE;
  labels[9] = NEGATIVE;
  labels[3] = UNCERTAIN;
  const p = new Float64Array(14).fill(0.5);
  p[1] = 0.8;
  p[9] = 0.3;
  expect(sDiag(p, labels)).toBeCloseTo((Math.log(0.8) + Math.log(0.7)) / 2, 12);
  expect(sDiag(p, new Int8Array(14).fill(UNCERTAIN))).toBeNull();
  expect(cosine([1, 2, 3], 0, [2, 4, 6], 0, 3)).toBeCloseTo(1, 12);
  expect(cosine([1, 0], 0, [0, 1], 0, 2)).toBe(0);
});

test('the labeler reads negation, hedging and normal statements; it agrees with the synthetic label table', async () => {
  const code = (t: string, l: (typeof CHEXPERT_LABELS)[number]) => labelReport(t)[labelIndex(l)];
  expect(code('Moderate cardiomegaly.', 'Cardiomegaly')).toBe(POSITIVE);
  expect(code('Heart size is normal.', 'Cardiomegaly')).toBe(NEGATIVE);
  expect(code('No pleural effusion or pneumothorax.', 'Pneumothorax')).toBe(NEGATIVE);
  expect(code('Small left pleural effusion may be present.', 'Pleural Effusion')).toBe(UNCERTAIN);
  expect(code('No effusion. Large right effusion on the lateral view.', 'Pleural Effusion')).toBe(POSITIVE);
  expect(code('No acute cardiopulmonary process.', 'No Finding')).toBe(POSITIVE);
  expect(code('Left lower lobe consolidation. No acute process otherwise.', 'No Finding')).toBe(NOT_MENTIONED);
  const root = path.join(tmpDir('labeler'), 'd');
  await synthesizeDataset({ out: root, studies: 150, seed: seed % 1000, size: 32 });
  let agree = 0,
    total = 0;
  for (const r of loadMimic({ root, splits: ['train', 'validate', 'test'], textSection: 'findings' }).records) {
    const mine = labelReport(r.text);
    r.labels.forEach((t, k) => {
      if (t !== NOT_MENTIONED && mine[k] !== NOT_MENTIONED) {
        total++;
        if (t === mine[k]) agree++;
      }
    });
  }
  console.log(
    `labeler vs synthetic label table (where both give a label): ${agree}/${total} = ${(agree / total).toFixed(3)}`,
  );
  expect(total).toBeGreaterThan(200);
  expect(agree / total).toBeGreaterThan(0.9);
});

test('posture target: the identity pose of a square image is the identity psi; an isotropic scale inverts', () => {
  const id = { scaleX: 1, scaleY: 1, shiftX: 0, shiftY: 0, rotation: 0 };
  truePsi(id, 100, 100, [1, 1]).forEach((v, k) => expect(v).toBeCloseTo([1, 1, 0, 0, 0][k], 12));
  const p = truePsi({ scaleX: 1.25, scaleY: 1.25, shiftX: 0.1, shiftY: 0, rotation: 0.2 }, 100, 100, [1, 1]);
  expect(p[0]).toBeCloseTo(0.8, 12);
  expect(p[1]).toBeCloseTo(0.8, 12);
  expect(p[4]).toBeCloseTo(-0.2, 12);
  // a portrait image cropped like the reference has the identity psi too
  truePsi(id, 80, 100, [1, 0.8]).forEach((v, k) => expect(v).toBeCloseTo([1, 1, 0, 0, 0][k], 12));
});

test('contracts: each mistake is refused with the file and the field named', () => {
  const f = 'm.onnx.json';
  const good = {
    format: 'cxrl-reward-contract',
    version: 1,
    kind: 'classifier',
    input: { name: 'image', size: [64, 64], channels: 1, range: [-1, 1], resize: 'stretch' },
    outputs: { probabilities: 'p' },
    labels: ['Effusion', 'Cardiomegaly'],
    label_map: { Effusion: 'Pleural Effusion' },
  };
  expect(checkContract(good, f).label_map).toEqual({ Effusion: 'Pleural Effusion' });
  const bad = (patch: Record<string, unknown>, re: RegExp) =>
    expect(() => checkContract({ ...good, ...patch }, f)).toThrow(re);
  bad({ format: 'x' }, /m.onnx.json: "format"/);
  bad({ kind: 'judge' }, /"kind" must be one of/);
  bad({ outputs: { scores: 'p' } }, /a classifier contract needs outputs \{probabilities\} or \{logits\}/);
  bad({ input: { ...good.input, channels: 2 } }, /"input.channels" must be 1 or 3/);
  bad({ input: { ...good.input, range: [1, -1] } }, /"input.range"/);
  bad({ input: { ...good.input, mean: [0.5] } }, /"input.mean" and "input.std" go together/);
  bad({ label_map: { Effusion: 'Water' } }, /"Water" is not a CheXpert label/);
  bad({ label_map: { Fluid: 'Pleural Effusion' } }, /key "Fluid" is not one of "labels"/);
  bad(
    { kind: 'posture', outputs: { psi: 'psi' }, psi_order: ['t_x', 't_y', 's_x', 's_y', 'theta'] },
    /"psi_order" must be/,
  );
  bad({ kind: 'consistency-image', outputs: { embedding: 'e' } }, /"pair" must name/);
  const c = checkContract(good, f);
  const inputs = [{ name: 'image', type: 'float32', shape: ['N', 1, 224, 224] }];
  expect(() => checkAgainstModel(c, inputs, [{ name: 'p', shape: ['N', 2] }], f)).toThrow(
    /input "image" dimension 2 is 224 in the ONNX file, the contract says 64/,
  );
  expect(() =>
    checkAgainstModel(
      c,
      [{ name: 'x', type: 'float32', shape: ['N', 1, 64, 64] }],
      [{ name: 'p', shape: ['N', 2] }],
      f,
    ),
  ).toThrow(/input "image" is not an input of the ONNX model \(it has x\)/);
  expect(() =>
    checkAgainstModel(c, [{ ...inputs[0], shape: ['N', 1, 64, 64] }], [{ name: 'p', shape: ['N', 3] }], f),
  ).toThrow(/output "p" dimension 1 is 3/);
  expect(() =>
    checkAgainstModel(c, [{ ...inputs[0], shape: ['N', 1, 64, 64] }], [{ name: 'q', shape: ['N', 2] }], f),
  ).toThrow(/probabilities output "p" is not an output/);
  // Two mismatches at once: both are named.
  expect(() =>
    checkAgainstModel(c, [{ ...inputs[0], shape: ['N', 3, 64, 64] }], [{ name: 'q', shape: ['N', 2] }], f),
  ).toThrow(
    /2 mismatches: input "image" dimension 1 is 3 .*; the contract's probabilities output "p" is not an output/,
  );
  const dir = tmpDir('contract');
  expect(() => readContract(path.join(dir, 'x.onnx'))).toThrow(/x.onnx.json: missing/);
  fs.writeFileSync(path.join(dir, 'y.onnx.json'), '{oops');
  expect(() => readContract(path.join(dir, 'y.onnx'))).toThrow(/y.onnx.json: not valid JSON/);
});
