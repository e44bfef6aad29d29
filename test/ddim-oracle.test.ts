/**
 * The fused DDIM step (x_prev, log-prob, gradient to both guidance halves) and PPO's clipped
 * surrogate, run through `cxrl-native debug step|ppo` (so the CLI's reading of eta, prediction type,
 * clipping, guidance and float64 inputs is exercised too), against a PyTorch float64 oracle written
 * from the method's formulas with autograd gradients (test/reference/ddim_ppo_torch.py).
 */
import * as path from 'path';
import { readSafetensors } from '../src/io/safetensors';
import { Rng, testSeed } from '../src/util/random';
import { normRel, runCli, runPython, tmpDir } from './helpers';
import { writeMixedSafetensors } from './reference/safetensors-mixed';

const seed = testSeed();

type Pred = 'epsilon' | 'sample' | 'v_prediction';
interface StepCase {
  name: string;
  pred: Pred;
  guided: boolean;
  clip: boolean;
  useClipped: boolean;
  eta: number;
}

const CASES: StepCase[] = [];
for (const pred of ['epsilon', 'sample', 'v_prediction'] as const)
  for (const guided of [false, true])
    for (const clip of [false, true]) {
      const eta = guided ? 0.7 : 1;
      const useClipped = clip && pred === 'sample';
      CASES.push({ name: `${pred} guided=${guided} clip=${clip} eta=${eta}`, pred, guided, clip, useClipped, eta });
    }

const errors = new Map<string, { prev: number; logProb: number; grads: number[] }>();
let ppoErrors: { clip: number; loss: number; grad: number; kl: number; clipfrac: number }[] = [];

beforeAll(() => {
  console.log(`ddim oracle: seed ${seed} (CXRL_TEST_SEED to repeat)`);
  const dir = tmpDir('ddim-oracle');
  const rng = new Rng(seed ^ 0x0dd1);
  const jobs: { kind: string; in: string; out: string; engine: string }[] = [];
  CASES.forEach((c, i) => {
    const B = 3,
      N = 1 + rng.int(100, 20000),
      shape = [B, 1, N];
    // float64 alpha-bars that float32 cannot hold: rounding them on the way in would show.
    const abarT = Float64Array.from([0.02, 0.5, 0.93], (v) => v * (0.95 + 0.05 * rng.uniform()));
    const abarPrev = abarT.map((v) => Math.min(0.9991, v + 0.05 + 1e-9 * rng.uniform()));
    const tensors: Record<string, { data: Float32Array | Float64Array; shape: number[] }> = {
      sample: { data: rng.normals(B * N), shape },
      [c.guided ? 'eps_cond' : 'eps']: { data: rng.normals(B * N), shape },
      alpha_bar_t: { data: abarT, shape: [B] },
      alpha_bar_prev: { data: abarPrev, shape: [B] },
      noise: { data: rng.normals(B * N), shape },
      grad_log_prob: { data: Float32Array.from([rng.normal(), rng.normal(), rng.normal()]), shape: [B] },
      eta: { data: Float64Array.of(c.eta), shape: [] },
    };
    if (c.guided) tensors.eps_uncond = { data: rng.normals(B * N), shape };
    const meta: Record<string, string> = { prediction_type: c.pred };
    if (c.guided) meta.guidance_scale = '4.5';
    if (c.clip) Object.assign(meta, { clip_sample: '1', clip_sample_range: '0.8' });
    if (c.useClipped) meta.use_clipped_model_output = '1';
    const inFile = path.join(dir, `step-${i}.safetensors`),
      engineFile = path.join(dir, `step-${i}-engine.safetensors`);
    writeMixedSafetensors(inFile, tensors, meta);
    const r = runCli(['debug', 'step', '--in', inFile, '--out', engineFile]);
    if (r.status !== 0) throw new Error(`debug step failed for ${c.name}: ${r.stderr}`);
    jobs.push({ kind: 'step', in: inFile, engine: engineFile, out: path.join(dir, `step-${i}-oracle.safetensors`) });
  });
  const clips = [1e-4, 0.2];
  clips.forEach((clip, i) => {
    const B = 64;
    const old = Float64Array.from({ length: B }, () => -1.5 + 0.1 * rng.normal());
    const lp = old.map((v) => v + (clip > 0.1 ? 0.3 : 3e-4) * rng.normal());
    const inFile = path.join(dir, `ppo-${i}.safetensors`),
      engineFile = path.join(dir, `ppo-${i}-engine.safetensors`);
    writeMixedSafetensors(inFile, {
      log_prob: { data: lp, shape: [B] },
      old_log_prob: { data: old, shape: [B] },
      advantages: { data: Float64Array.from({ length: B }, () => 3 * rng.normal()), shape: [B] }, // some beyond +-5
      clip_range: { data: Float64Array.of(clip), shape: [] },
      adv_clip_max: { data: Float64Array.of(5), shape: [] },
    });
    const r = runCli(['debug', 'ppo', '--in', inFile, '--out', engineFile]);
    if (r.status !== 0) throw new Error(`debug ppo failed: ${r.stderr}`);
    jobs.push({ kind: 'ppo', in: inFile, engine: engineFile, out: path.join(dir, `ppo-${i}-oracle.safetensors`) });
  });
  runPython('ddim_ppo_torch.py', [JSON.stringify(jobs)]);

  CASES.forEach((c, i) => {
    const ours = readSafetensors(jobs[i].engine).tensors;
    const oracle = readSafetensors(jobs[i].out).exact;
    const gradNames = c.guided ? ['grad_eps_cond', 'grad_eps_uncond'] : ['grad_eps'];
    errors.set(c.name, {
      prev: normRel(ours.prev_sample.data, oracle.prev_sample),
      logProb: normRel(ours.log_prob.data, oracle.log_prob),
      grads: gradNames.map((g) => normRel(ours[g].data, oracle[g])),
    });
  });
  ppoErrors = clips.map((clip, i) => {
    const job = jobs[CASES.length + i];
    const ours = readSafetensors(job.engine).tensors;
    const oracle = readSafetensors(job.out).exact;
    return {
      clip,
      loss: normRel(ours.loss.data, oracle.loss),
      grad: normRel(ours.grad_log_prob.data, oracle.grad_log_prob),
      kl: normRel(ours.approx_kl.data, oracle.approx_kl),
      clipfrac: Math.abs(ours.clipfrac.data[0] - oracle.clipfrac[0]),
    };
  });
}, 180_000);

describe('debug step vs the PyTorch float64 oracle', () => {
  test.each(CASES.map((c) => [c.name]))('%s', (name) => {
    const e = errors.get(name)!;
    console.log(
      `${name}: x_prev rel ${e.prev.toExponential(2)}, log-prob rel ${e.logProb.toExponential(2)}, ` +
        `gradient rel ${e.grads.map((g) => g.toExponential(2)).join('/')}`,
    );
    // x_prev and the gradients come back as float32; the log-prob is float64 (written as float32
    // by the engine's safetensors writer, hence 1e-7 there too).
    expect(e.prev).toBeLessThan(1e-6);
    expect(e.logProb).toBeLessThan(1e-6);
    for (const g of e.grads) expect(g).toBeLessThan(1e-5);
  });
});

describe('debug ppo vs the PyTorch float64 oracle', () => {
  test('loss, gradient (autograd), approx_kl and clip fraction, at two clip ranges', () => {
    for (const e of ppoErrors) {
      console.log(
        `ppo clip ${e.clip}: loss rel ${e.loss.toExponential(2)}, gradient rel ${e.grad.toExponential(2)}, approx_kl rel ${e.kl.toExponential(2)}`,
      );
      expect(e.loss).toBeLessThan(1e-6);
      expect(e.grad).toBeLessThan(1e-6);
      expect(e.kl).toBeLessThan(1e-6);
      expect(e.clipfrac).toBe(0);
    }
  });
});
