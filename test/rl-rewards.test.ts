/**
 * RLCF comparison modes, reward weights and every advantage mode against hand-computed values; the
 * per-prompt tracker against a reference written here from DDPO's description; the paired
 * comparison against a hand computation.
 */
import { batchAdvantages, groupAdvantages, PerPromptStatTracker } from '../src/rl/advantages';
import { comparativeRewards, parseRewardWeights } from '../src/rl/comparative-rewards';
import { pairedComparison } from '../src/rl/paired';
import {
  changedSettings,
  etaSchedule,
  parseTrainWindow,
  RL_DEFAULTS,
  RlSettings,
  trainableSteps,
} from '../src/rl/settings';
import type { ImageScores } from '../src/rewards/scorer';
import { Rng, testSeed } from '../src/util/random';

const seed = testSeed();

const policy: ImageScores[] = [
  { r_align: -0.2, s_diag: -0.5, s_cons: 0.3 },
  { r_align: -0.1, s_diag: -0.9, s_cons: 0.1 },
  { r_align: -0.4, s_diag: null, s_cons: 0.2 },
];
const anchor: ImageScores[] = [
  { r_align: -0.3, s_diag: -0.7, s_cons: 0.3 },
  { r_align: -0.2, s_diag: -0.6, s_cons: 0.4 },
  { r_align: -0.5, s_diag: null, s_cons: 0.0 },
];

test('RLCF diff: r_align direct, the others policy minus anchor; weights enter the total', () => {
  const r = comparativeRewards(policy, anchor, 'diff', { align: 1, diag: 2, cons: 0.5 });
  expect(Array.from(r.align)).toEqual([-0.2, -0.1, -0.4]);
  expect(r.diag[0]).toBeCloseTo(0.2, 15);
  expect(r.diag[1]).toBeCloseTo(-0.3, 15);
  expect(r.diag[2]).toBe(0); // no usable label: contributes nothing
  expect(r.cons[0]).toBeCloseTo(0, 15);
  expect(r.cons[1]).toBeCloseTo(-0.3, 15);
  expect(r.cons[2]).toBeCloseTo(0.2, 15);
  expect(r.total[0]).toBeCloseTo(-0.2 + 2 * 0.2 + 0.5 * 0, 14);
  expect(r.total[1]).toBeCloseTo(-0.1 + 2 * -0.3 + 0.5 * -0.3, 14);
  expect(r.total[2]).toBeCloseTo(-0.4 + 0 + 0.5 * 0.2, 14);
});

test('RLCF sign and direct', () => {
  const s = comparativeRewards(policy, anchor, 'sign', { align: 1, diag: 1, cons: 1 });
  expect(Array.from(s.diag)).toEqual([1, -1, 0]);
  expect(Array.from(s.cons)).toEqual([0, -1, 1]);
  expect(Array.from(s.total)).toEqual([-0.2 + 1 + 0, -0.1 - 1 - 1, -0.4 + 0 + 1]);
  const d = comparativeRewards(policy, null, 'direct', { align: 0, diag: 1, cons: 1 });
  expect(Array.from(d.diag)).toEqual([-0.5, -0.9, 0]);
  expect(Array.from(d.total)).toEqual([-0.5 + 0.3, -0.9 + 0.1, 0 + 0.2]);
  expect(() => comparativeRewards(policy, null, 'diff', { align: 1, diag: 1, cons: 1 })).toThrow(
    /needs one anchor score/,
  );
});

test('reward weights parse with defaults and clear errors', () => {
  expect(parseRewardWeights('align=1,diag=1,cons=1')).toEqual({ align: 1, diag: 1, cons: 1 });
  expect(parseRewardWeights('diag=0.5')).toEqual({ align: 1, diag: 0.5, cons: 1 });
  expect(() => parseRewardWeights('posture=1')).toThrow(/"posture=1" is not NAME=VALUE/);
  expect(() => parseRewardWeights('diag=-1')).toThrow(/diag must be a finite number >= 0/);
  expect(() => parseRewardWeights('diag=abc')).toThrow(/diag must be a finite number/);
  expect(() => parseRewardWeights('align=0,diag=0,cons=0')).toThrow(/at least one weight/);
});

test('batch and group advantages: (r - mean) / (population std + 1e-6)', () => {
  const r = [1, 2, 3, 6];
  const m = 3,
    sd = Math.sqrt((4 + 1 + 0 + 9) / 4);
  expect(Array.from(batchAdvantages(r))).toEqual(r.map((x) => (x - m) / (sd + 1e-6)));
  const g = groupAdvantages(['a', 'a', 'b', 'b'], r);
  expect(g[0]).toBeCloseTo(-0.5 / (0.5 + 1e-6), 14);
  expect(g[1]).toBeCloseTo(0.5 / (0.5 + 1e-6), 14);
  expect(g[2]).toBeCloseTo(-1.5 / (1.5 + 1e-6), 14);
  expect(g[3]).toBeCloseTo(1.5 / (1.5 + 1e-6), 14);
  expect(Array.from(groupAdvantages(['a'], [4]))).toEqual([0]); // one sample: nothing to compare with
});

/** DDPO's per-prompt stat tracker, written from its description: a deque of the last N rewards per prompt. */
class ReferenceTracker {
  private readonly store: Record<string, number[]> = {};
  constructor(
    private readonly size: number,
    private readonly min: number,
  ) {}
  update(prompts: string[], rewards: number[]): number[] {
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const std = (v: number[]) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
    const out = new Array<number>(rewards.length);
    const unique = prompts.filter((p, i) => prompts.indexOf(p) === i);
    for (const p of unique) {
      const mine = rewards.filter((_, i) => prompts[i] === p);
      this.store[p] = (this.store[p] ?? []).concat(mine).slice(-this.size);
      const ref = this.store[p].length < this.min ? rewards : this.store[p];
      prompts.forEach((q, i) => {
        if (q === p) out[i] = (rewards[i] - mean(ref)) / (std(ref) + 1e-6);
      });
    }
    return out;
  }
}

test('per-prompt tracker matches the reference over many random batches, and survives a save/restore', () => {
  const rng = new Rng(seed);
  let tracker = new PerPromptStatTracker(5, 3);
  const ref = new ReferenceTracker(5, 3);
  const names = ['p0', 'p1', 'p2', 'p3'];
  let worst = 0;
  for (let step = 0; step < 40; step++) {
    const prompts = Array.from({ length: 6 }, () => names[rng.int(0, 3)]);
    const rewards = prompts.map(() => rng.normal());
    const got = tracker.update(prompts, rewards),
      want = ref.update(prompts, rewards);
    want.forEach((w, i) => (worst = Math.max(worst, Math.abs(got[i] - w))));
    if (step === 20) tracker = PerPromptStatTracker.fromState(JSON.parse(JSON.stringify(tracker.state())));
  }
  console.log(`[seed ${seed}] tracker vs reference over 40 batches: max abs difference ${worst.toExponential(2)}`);
  expect(worst).toBeLessThan(1e-12);
});

test('paired comparison: mean difference, its standard error and t', () => {
  const c = pairedComparison([1, 2, 4], [0, 1, 1]);
  // d = [1, 1, 3]: mean 5/3, sample sd sqrt(((1-5/3)^2*2 + (3-5/3)^2)/2) = sqrt(4/3)
  expect(c.diff).toBeCloseTo(5 / 3, 14);
  expect(c.se).toBeCloseTo(Math.sqrt(4 / 3) / Math.sqrt(3), 14);
  expect(c.t).toBeCloseTo(5 / 3 / (Math.sqrt(4 / 3) / Math.sqrt(3)), 12);
  expect(c.policy).toBeCloseTo(7 / 3, 14);
  expect(c.anchor).toBeCloseTo(2 / 3, 14);
});

test('train window: eta inside, 0 outside; trainable steps; resume-safe settings', () => {
  expect(parseTrainWindow('2:4', 10)).toEqual([2, 4]);
  expect(() => parseTrainWindow('4:2', 10)).toThrow(/FIRST <= LAST/);
  expect(() => parseTrainWindow('2:10', 10)).toThrow(/< --sample-steps/);
  expect(() => parseTrainWindow('x', 10)).toThrow(/FIRST:LAST/);
  const s = { sampleSteps: 6, eta: 0.8, trainWindow: [1, 3] as [number, number] };
  expect(etaSchedule(s)).toEqual([0, 0.8, 0.8, 0.8, 0, 0]);
  expect(trainableSteps(s)).toEqual([1, 2, 3]);
  expect(trainableSteps({ ...s, trainWindow: null })).toEqual([0, 1, 2, 3, 4, 5]);
  const base: RlSettings = { ...RL_DEFAULTS, aceLr: 1e-4, textLength: 48 };
  expect(changedSettings(base, { ...base, epochs: 99, evalEvery: 1 })).toEqual([]);
  expect(changedSettings(base, { ...base, lr: 1 })).toEqual([`lr: ${base.lr} in the checkpoint, 1 now`]);
});
