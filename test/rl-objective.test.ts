/**
 * The RL stage's objective on a micro UNet: the PPO gradient w.r.t. UNet parameters and ACE
 * coordinates against central finite differences of the loss recomputed from scratch; ratio 1 and
 * loss -mean(A) on the first re-score; a single trajectory's log-prob rises after an update with a
 * positive advantage and falls with a negative one; without ACE the policy and the anchor draw
 * bit-identical images from the same noise.
 */
import type { NativeUNet } from '../src/engine/native';
import { Conditioning } from '../src/engine/guidance';
import { GuidedChain } from './guided-chain';
import { ddimStep, ddimStepBackward, DdimStepInput, ppoLoss } from '../src/engine/rl';
import { sampleDdim } from '../src/engine/sampler';
import { ddimSchedule, schedulerConfig } from '../src/engine/scheduler';
import { createUNet } from '../src/engine/unet';
import { loadAddon } from '../src/engine/native';
import { AceTokens } from '../src/rl/ace';
import {
  microBatchGradient,
  policyConditioning,
  PolicyUpdateInputs,
  policyUpdate,
  PpoSettings,
} from '../src/rl/policy-update';
import { Rng, testSeed } from '../src/util/random';
import { MICRO_UNET } from './fixtures';

const seed = testSeed();
const say = (msg: string) => console.log(`[seed ${seed}] ${msg}`);

const UNET = MICRO_UNET;
const L = 6,
  D = 16,
  B = 2,
  STEPS = 4,
  SHAPE: [number, number, number] = [1, 16, 16];
const SETTINGS: PpoSettings = {
  trainBatchSize: 2,
  innerEpochs: 1,
  timestepFraction: 0.5,
  clipRange: 1e3,
  advClipMax: 5,
  maxGradNorm: 0,
  guidanceScale: 3,
  lr: 1e-4,
  aceLr: 1e-3,
  klWeight: 0,
};

function randomConditioning(rng: Rng, rows: number): Conditioning {
  const mask = new Float32Array(rows * L).fill(1);
  for (let b = 0; b < rows; b++) mask.fill(0, b * L + 4, (b + 1) * L); // two padded positions
  return { context: { data: rng.normals(rows * L * D), shape: [rows, L, D] }, mask: { data: mask, shape: [rows, L] } };
}

async function setup(withAce: boolean, s = seed) {
  const rng = new Rng(s);
  const unet = createUNet(UNET as never, s % 1000);
  const ace = withAce ? AceTokens.init(2, D, s + 1) : null;
  const cond = randomConditioning(rng, B),
    uncond = randomConditioning(rng, 1);
  const schedCfg = schedulerConfig();
  const { trajectory } = await sampleDdim(
    unet,
    policyConditioning(cond, ace, false),
    policyConditioning(uncond, ace, true),
    {
      shape: [B, ...SHAPE],
      steps: STEPS,
      eta: 1,
      guidanceScale: SETTINGS.guidanceScale,
      seed: s,
      scheduler: schedCfg,
      keepTrajectory: true,
    },
  );
  const optimizer = new (loadAddon().Optimizer)(unet, { lr: SETTINGS.lr, weightDecay: 0 });
  const inputs: PolicyUpdateInputs = {
    policy: unet,
    optimizer,
    ace,
    scheduler: ddimSchedule(schedCfg, STEPS),
    cond,
    uncond,
    trajectory: trajectory!,
    advantages: Float64Array.of(1.3, -0.7),
    trainableSteps: [0, 1, 2, 3],
    eta: 1,
  };
  return { unet, ace, inputs };
}

// Sample 0 trained at steps 1 and 3, sample 1 at steps 2 and 0: different timesteps in one batch.
const IDX = [0, 1],
  AT = [
    [1, 3],
    [2, 0],
  ];

/**
 * Central differences (loss(+h) - loss(-h)) / 2h against the analytic derivative at several step
 * sizes, the best kept: the float32 forward makes small steps noisy and large ones curved, and a
 * wrong gradient fails at every one. lossAt(delta) applies the perturbation (from the unperturbed
 * value) and returns the loss; the caller restores the value afterwards. The error is relative to scale.
 */
async function bestCentralDifference(
  lossAt: (delta: number) => Promise<number>,
  analytic: number,
  scale: number,
  steps: number[],
): Promise<{ err: number; fd: number }> {
  let best = { err: Infinity, fd: NaN };
  for (const h of steps) {
    const fd = ((await lossAt(h)) - (await lossAt(-h))) / (2 * h);
    const err = Math.abs(fd - analytic) / scale;
    if (err < best.err) best = { err, fd };
  }
  return best;
}

/** lossAt for ACE coordinate i moved from x0. */
function aceAt(ace: AceTokens, i: number, x0: number, loss: () => Promise<number>) {
  return async (t: number) => {
    ace.tokens[i] = x0 + t;
    return loss();
  };
}

/** lossAt for one tensor of the UNet moved along direction v (all ones: every entry) from p0. */
function alongTensor(
  unet: NativeUNet,
  name: string,
  p0: Float32Array,
  v: ArrayLike<number>,
  loss: () => Promise<number>,
) {
  return async (t: number) => {
    unet.setParam(
      name,
      p0.map((x, i) => x + t * v[i]),
    );
    return loss();
  };
}

test('PPO objective: gradients w.r.t. UNet parameters and ACE tokens match central differences', async () => {
  const { unet, ace, inputs } = await setup(true);
  await microBatchGradient(inputs, SETTINGS, IDX, AT);
  const grads = new Map(unet.paramInfo().map((p) => [p.name, Float32Array.from(unet.getGrad(p.name).data)]));
  const aceGrad = Float64Array.from(ace!.grad);
  const loss = async () => (await microBatchGradient(inputs, SETTINGS, IDX, AT)).loss;
  const rng = new Rng(seed + 5);
  // Per entry: the largest-gradient entries of tensors from every part of the network, plus random ones.
  const names = [
    'conv_in.weight',
    'time_embedding.linear_1.weight',
    'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight',
    'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight',
    'mid_block.resnets.0.conv1.weight',
    'up_blocks.1.attentions.0.proj_out.weight',
    'conv_out.bias',
  ];
  // The loss comes out of float32 forwards: its difference quotients carry 1e-5 to 2e-5 of noise
  // whatever the tensor. Errors are therefore relative to at least these floors, so a tensor with
  // a tiny gradient is held to an absolute error (conv_out.bias at seed 337: norm 5.5e-4, noise
  // 2.2e-5, which read 4% against its own norm). A dropped gradient of that size still reads 0.1
  // in (1) and 0.27 in (2), far above the tolerances.
  const dirFloor = 5e-3,
    entryFloor = 2e-3;
  // (1) Along a random +-1 direction over each whole tensor: sees any dropped or wrong entry.
  let worstDir = 0;
  for (const name of names) {
    const g = grads.get(name)!,
      p0 = Float32Array.from(unet.getParam(name).data);
    const v = Float32Array.from(g, () => (rng.uniform() < 0.5 ? -1 : 1));
    const an = g.reduce((a, x, i) => a + x * v[i], 0);
    // Normwise: |g . v| is about ||g|| for a random +-1 direction, and can be far smaller by chance.
    const norm = Math.hypot(...g);
    const { err, fd } = await bestCentralDifference(
      alongTensor(unet, name, p0, v, loss),
      an,
      Math.max(Math.abs(an), norm, dirFloor),
      [1e-2, 3e-3, 1e-3],
    );
    unet.setParam(name, p0);
    worstDir = Math.max(worstDir, err);
    if (err > 0.01) say(`${name} along a random direction: analytic ${an} vs difference ${fd}`);
  }
  say(
    `PPO gradient vs central differences along random directions of ${names.length} tensors: max error relative to max(|g.v|, |g|, ${dirFloor}) ${worstDir.toExponential(2)}`,
  );
  expect(worstDir).toBeLessThan(0.01);

  // (2) Per entry, at the largest entries and a random one of each tensor (best of three step sizes).
  let worst = 0,
    checked = 0;
  for (const name of names) {
    const g = grads.get(name)!;
    const top = Array.from(g.keys())
      .sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]))
      .slice(0, 2);
    for (const i of [...top, rng.int(0, g.length - 1)]) {
      const scale = Math.max(...g.map(Math.abs), entryFloor); // normwise: a dropped top entry gives about 1
      const p0 = Float32Array.from(unet.getParam(name).data);
      const onlyEntry = Float32Array.from(p0, (_, k) => (k === i ? 1 : 0));
      const { err, fd } = await bestCentralDifference(
        alongTensor(unet, name, p0, onlyEntry, loss),
        g[i],
        scale,
        [1e-2, 1e-3, 1e-4],
      );
      unet.setParam(name, p0);
      worst = Math.max(worst, err);
      checked++;
      if (err > 0.05) say(`${name}[${i}]: analytic ${g[i]} vs difference ${fd}`);
    }
  }
  say(
    `PPO gradient vs central differences, ${checked} UNet entries: max error relative to the tensor's largest entry (at least ${entryFloor}) ${worst.toExponential(2)}`,
  );
  // 0.05: the loss comes out of float32 forwards, whose rounding (about 1e-7 of the loss) puts
  // about 1e-5 of noise into a difference quotient at these steps. A tensor whose largest entry is
  // a few 1e-4 (attn1.to_q at seed 201: 2.7e-4) then reads 3% from noise alone; a dropped or
  // wrong entry still reads about 1, and the directional check above holds the whole tensors to 1%.
  expect(worst).toBeLessThan(0.05);

  let aceWorst = 0;
  const order = Array.from(aceGrad.keys()).sort((a, b) => Math.abs(aceGrad[b]) - Math.abs(aceGrad[a]));
  for (const i of [...order.slice(0, 4), rng.int(0, aceGrad.length - 1)]) {
    const x = ace!.tokens[i];
    const { err } = await bestCentralDifference(
      aceAt(ace!, i, x, loss),
      aceGrad[i],
      Math.abs(aceGrad[order[0]]),
      [1e-2, 1e-3, 1e-4],
    );
    ace!.tokens[i] = x;
    aceWorst = Math.max(aceWorst, err);
  }
  say(
    `PPO gradient vs central differences, 5 ACE coordinates: max error relative to the largest entry ${aceWorst.toExponential(2)}`,
  );
  expect(aceWorst).toBeLessThan(0.02);
  // The gradient is not trivially zero anywhere it should not be.
  expect(Math.max(...aceGrad.map(Math.abs))).toBeGreaterThan(0);
});

test('first re-score of an unchanged policy: ratio 1, approx_kl 0, loss = -mean(A)', async () => {
  const { inputs } = await setup(true, seed + 1);
  const seen: { loss: number; approxKl: number; clipfrac: number }[] = [];
  await policyUpdate(inputs, { ...SETTINGS, clipRange: 1e-4, trainBatchSize: 1, timestepFraction: 1 }, new Rng(seed), {
    onMicroBatch: (m) => seen.push(m),
  });
  // The first micro-batch holds one sample (batch size 1): its loss is -A of that sample exactly.
  expect(seen[0].approxKl).toBe(0);
  expect(seen[0].clipfrac).toBe(0);
  expect([-1.3, 0.7].some((v) => Math.abs(seen[0].loss - v) < 1e-12)).toBe(true);
  // Same with both samples in one batch, re-scored at steps other than those sampled together.
  const again = await setup(true, seed + 1);
  const first = await microBatchGradient(again.inputs, SETTINGS, IDX, AT);
  expect(first.approxKl).toBe(0);
  expect(first.loss).toBeCloseTo(-(1.3 - 0.7) / 2, 12);
});

async function trajectoryLogProb(inputs: PolicyUpdateInputs, sample: number, steps: number[]): Promise<number> {
  // Re-scoring with advantage 1 and a wide clip range gives loss = -mean_t exp(lp_new - lp_old):
  const probe = { ...inputs, advantages: Float64Array.from(inputs.advantages, () => 1) };
  const r = await microBatchGradient(probe, SETTINGS, [sample], [steps]);
  return -r.loss; // mean over the steps of the ratio; > 1 when the log-probs rose
}

test.each([[1], [-1]])("one update with advantage %d moves the trajectory's log-prob that way", async (sign) => {
  const { inputs } = await setup(true, seed + 2);
  const one: PolicyUpdateInputs = { ...inputs, advantages: Float64Array.of(sign, 0) };
  const steps = [0, 1, 2, 3];
  const before = await trajectoryLogProb(one, 0, steps);
  expect(before).toBeCloseTo(1, 12);
  await policyUpdate(
    one,
    { ...SETTINGS, trainBatchSize: 1, timestepFraction: 1, lr: 1e-5, aceLr: 1e-4 },
    new Rng(seed),
  );
  const after = await trajectoryLogProb(one, 0, steps);
  say(`advantage ${sign}: mean ratio of the trajectory's steps after one update ${after}`);
  expect(Math.sign(after - 1)).toBe(sign);
});

test('without ACE the policy and the anchor draw bit-identical images from the same noise', async () => {
  const rng = new Rng(seed + 3);
  const policy = createUNet(UNET as never, 7),
    anchor = createUNet(UNET as never, 0);
  for (const p of policy.paramInfo()) anchor.setParam(p.name, policy.getParam(p.name).data);
  const cond = randomConditioning(rng, B),
    uncond = randomConditioning(rng, 1);
  const o = {
    shape: [B, ...SHAPE] as [number, number, number, number],
    steps: STEPS,
    eta: 1,
    guidanceScale: 3,
    seed,
    scheduler: schedulerConfig(),
  };
  const a = await sampleDdim(policy, policyConditioning(cond, null, false), policyConditioning(uncond, null, true), o);
  const b = await sampleDdim(anchor, cond, uncond, o);
  expect(Buffer.from(a.images.buffer).equals(Buffer.from(b.images.buffer))).toBe(true);
  // With ACE tokens appended the policy's images differ (the comparison then measures something).
  const ace = AceTokens.init(2, D, seed);
  const c = await sampleDdim(policy, policyConditioning(cond, ace, false), policyConditioning(uncond, ace, true), o);
  expect(Buffer.from(c.images.buffer).equals(Buffer.from(b.images.buffer))).toBe(false);
});

test("the KL trust region: 0 against the policy's own means; its gradient matches central differences", async () => {
  const { unet, ace, inputs } = await setup(true, seed + 4);
  // Per-step means along the same noise, kept for the KL term.
  const meansOptions = {
    shape: [B, ...SHAPE] as [number, number, number, number],
    steps: STEPS,
    eta: 1,
    guidanceScale: SETTINGS.guidanceScale,
    seed: seed + 4,
    scheduler: schedulerConfig(),
    keepTrajectory: true,
    keepMeans: true,
  };
  // The policy's own per-step means along its trajectory: KL 0.
  const own = await sampleDdim(
    unet,
    policyConditioning(inputs.cond, ace, false),
    policyConditioning(inputs.uncond, ace, true),
    meansOptions,
  );
  const self = await microBatchGradient(
    { ...inputs, anchorMeans: own.trajectory!.means },
    { ...SETTINGS, klWeight: 1 },
    IDX,
    AT,
  );
  say(`KL against the policy's own means: ${self.klAnchor.toExponential(2)}`);
  expect(Math.abs(self.klAnchor)).toBeLessThan(1e-6);
  // An anchor that differs: another UNet's means along the same noise.
  const other = createUNet(UNET as never, (seed % 1000) + 1);
  const anchorMeans = (await sampleDdim(other, inputs.cond, inputs.uncond, meansOptions)).trajectory!.means!;
  const klInputs = { ...inputs, anchorMeans };
  const s = { ...SETTINGS, klWeight: 0.7 };
  const base = await microBatchGradient(klInputs, s, IDX, AT);
  expect(base.klAnchor).toBeGreaterThan(0);
  const withoutKl = await microBatchGradient(klInputs, { ...s, klWeight: 0 }, IDX, AT);
  // The loss adds the weighted KL exactly, up to double rounding of the sum (relative: the KL
  // reaches thousands for some seeds, e.g. 5947 at seed 310, where 5e-13 absolute is below an ulp).
  const expected = withoutKl.loss + 0.7 * base.klAnchor;
  expect(Math.abs(base.loss - expected)).toBeLessThanOrEqual(1e-14 * Math.max(1, Math.abs(expected)));
  await microBatchGradient(klInputs, s, IDX, AT);
  const name = 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v.weight';
  const g = Float32Array.from(unet.getGrad(name).data),
    p0 = Float32Array.from(unet.getParam(name).data);
  const aceGrad = Float64Array.from(ace!.grad);
  const rng = new Rng(seed + 9);
  const v = Float32Array.from(g, () => (rng.uniform() < 0.5 ? -1 : 1));
  const an = g.reduce((a, x, i) => a + x * v[i], 0),
    norm = Math.hypot(...g);
  const klLoss = async () => (await microBatchGradient(klInputs, s, IDX, AT)).loss;
  const { err } = await bestCentralDifference(
    alongTensor(unet, name, p0, v, klLoss),
    an,
    Math.max(Math.abs(an), norm),
    [1e-2, 3e-3, 1e-3],
  );
  unet.setParam(name, p0);
  const j = aceGrad.reduce((best, x, i) => (Math.abs(x) > Math.abs(aceGrad[best]) ? i : best), 0);
  const x0 = ace!.tokens[j];
  const { err: aceErr } = await bestCentralDifference(
    aceAt(ace!, j, x0, klLoss),
    aceGrad[j],
    Math.abs(aceGrad[j]),
    [1e-2, 1e-3],
  );
  ace!.tokens[j] = x0;
  say(
    `PPO + KL gradient vs central differences: ${name} along a random direction ${err.toExponential(2)}, largest ACE coordinate ${aceErr.toExponential(2)}`,
  );
  expect(err).toBeLessThan(0.01);
  expect(aceErr).toBeLessThan(0.02);
});

/**
 * The engine's RL timestep (UNet.policyStepAsync, one call per trained step) against the same chain
 * composed here from the separate engine calls (guided forward, ddimStep at the stored x_prev,
 * ppoLoss, ddimStepBackward for PPO and the KL term, guided backward): the CPU results agree bit
 * for bit, parameter and ACE gradients included.
 */
test('the engine RL timestep equals the chain of separate engine calls, bit for bit', async () => {
  const a = await setup(true),
    b = await setup(true);
  const rng = new Rng(seed + 9);
  const anchorMeans = a.inputs.trajectory.latents.slice(0, STEPS).map((x) =>
    loadAddon().EngineTensor.fromHost(
      x.toHost().map((v) => v + 0.05 * rng.normal()),
      x.shape(),
    ),
  );
  const s: PpoSettings = { ...SETTINGS, clipRange: 0.2, klWeight: 0.3 };
  const native = await microBatchGradient({ ...a.inputs, anchorMeans }, s, IDX, AT);
  const composed = await composedMicroBatch({ ...b.inputs, anchorMeans }, s, IDX, AT);
  say(
    `engine timestep: loss ${native.loss}, KL ${native.klAnchor}; composed: loss ${composed.loss}, KL ${composed.klAnchor}`,
  );
  // The loss adds the KL term's value (below) in another order: equal to rounding.
  expect(Math.abs(native.loss - composed.loss)).toBeLessThanOrEqual(1e-14 * Math.abs(composed.loss));
  expect(native.approxKl).toBe(composed.approxKl);
  expect(native.clipfrac).toBe(composed.clipfrac);
  // The KL value: log(eta sigma) in C++ and in JavaScript may differ in the last bit.
  expect(Math.abs(native.klAnchor - composed.klAnchor)).toBeLessThanOrEqual(1e-12 * Math.abs(composed.klAnchor));
  let differing = 0;
  for (const p of a.unet.paramInfo())
    if (!Buffer.from(a.unet.getGrad(p.name).data.buffer).equals(Buffer.from(b.unet.getGrad(p.name).data.buffer)))
      differing++;
  expect(differing).toBe(0);
  expect(Array.from(a.ace!.grad)).toEqual(Array.from(b.ace!.grad));
});

/** The reference chain: microBatchGradient as it was composed in TypeScript. */
async function composedMicroBatch(
  u: PolicyUpdateInputs,
  s: PpoSettings,
  idx: readonly number[],
  steps: readonly (readonly number[])[],
) {
  const per = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const nTrain = steps[0].length;
  const latents = u.trajectory.latents.map((x) => x.toHost());
  const anchorMeans = u.anchorMeans?.map((x) => x.toHost());
  const gather = (from: Float32Array[], at: number[]) => {
    const out = new Float32Array(idx.length * per);
    idx.forEach((row, k) => out.set(from[at[k]].subarray(row * per, (row + 1) * per), k * per));
    return out;
  };
  const rows = (t: { data: Float32Array; shape: number[] }) => {
    const n = t.data.length / t.shape[0];
    const out = new Float32Array(idx.length * n);
    idx.forEach((row, k) => out.set(t.data.subarray(row * n, (row + 1) * n), k * n));
    return { data: out, shape: [idx.length, ...t.shape.slice(1)] };
  };
  u.policy.zeroGrad();
  u.ace?.zeroGrad();
  const cond = policyConditioning({ context: rows(u.cond.context), mask: rows(u.cond.mask) }, u.ace, false);
  const denoiser = new GuidedChain(
    u.policy,
    idx.length,
    cond,
    policyConditioning(u.uncond, u.ace, true),
    s.guidanceScale,
  );
  const mb = { loss: 0, approxKl: 0, clipfrac: 0, klAnchor: 0 };
  for (let j = 0; j < nTrain; j++) {
    const stepIdx = steps.map((st) => st[j]);
    const at = stepIdx.map((i) => u.scheduler.step(i));
    const x = gather(latents, stepIdx);
    const out = await denoiser.predict(
      x,
      SHAPE,
      at.map((q) => q.t),
      true,
    );
    const stepInput: DdimStepInput = {
      batch: idx.length,
      perSample: per,
      sample: x,
      modelOutput: out.cond,
      modelOutputUncond: out.uncond,
      guidanceScale: s.guidanceScale,
      schedule: u.scheduler,
      stepIndex: stepIdx,
      eta: u.eta,
      prevSample: gather(
        latents,
        stepIdx.map((i) => i + 1),
      ),
    };
    const lp = ddimStep(stepInput).logProb;
    const ppo = ppoLoss({
      logProb: lp,
      oldLogProb: Float64Array.from(idx, (row, k) => u.trajectory.logProbs[stepIdx[k]][row]),
      advantages: Float64Array.from(idx, (row) => u.advantages[row]),
      clipRange: s.clipRange,
      advClipMax: s.advClipMax,
    });
    const g = ddimStepBackward(
      stepInput,
      ppo.gradLogProb.map((v) => v / nTrain),
    );
    const klInput: DdimStepInput = { ...stepInput, prevSample: gather(anchorMeans!, stepIdx) };
    let kl = 0;
    ddimStep(klInput).logProb.forEach((l, k) => {
      const sigma = Math.sqrt(
        ((1 - at[k].alphaBarPrev) / (1 - at[k].alphaBarT)) * (1 - at[k].alphaBarT / at[k].alphaBarPrev),
      );
      kl += -l - Math.log(u.eta * sigma) - 0.5 * Math.log(2 * Math.PI);
    });
    kl /= idx.length;
    const gk = ddimStepBackward(klInput, new Float64Array(idx.length).fill(-s.klWeight / (idx.length * nTrain)));
    for (let i = 0; i < g.gradModelOutput.length; i++) g.gradModelOutput[i] += gk.gradModelOutput[i];
    for (let i = 0; i < g.gradModelOutputUncond!.length; i++)
      g.gradModelOutputUncond![i] += gk.gradModelOutputUncond![i];
    u.ace?.accumulateFromContextGrad(await denoiser.backward(g.gradModelOutput, g.gradModelOutputUncond, SHAPE));
    mb.loss += ppo.loss / nTrain + (s.klWeight * kl) / nTrain;
    mb.approxKl += ppo.approxKl / nTrain;
    mb.clipfrac += ppo.clipfrac / nTrain;
    mb.klAnchor += kl / nTrain;
  }
  return mb;
}
