/**
 * The noise schedules against float64 formulas, the fused DDIM step's backward and the PPO kernel
 * against finite differences, Philox noise, and argument errors. (The step and PPO values are
 * checked against a PyTorch float64 oracle through the debug CLI in ddim-oracle.test.ts.)
 * Inputs are random, seeded and printed.
 */
import * as path from 'path';
import { loadAddon } from '../src/engine/native';
import { ddimStep, ddimStepBackward, DdimStepInput, ppoLoss } from '../src/engine/rl';
import { ddimSchedule, schedulerConfig } from '../src/engine/scheduler';
import { writeSafetensors } from '../src/io/safetensors';
import { Rng, testSeed } from '../src/util/random';
import { referenceAlphasCumprod, referenceBetas } from './reference/schedule-reference';
import { runCli, tmpDir } from './helpers';

const seed = testSeed();
beforeAll(() => console.log(`rl kernels: seed ${seed} (CXRL_TEST_SEED to repeat)`));

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let r = 0;
  for (let i = 0; i < b.length; i++) r = Math.max(r, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-300));
  return r;
}

describe('noise schedules and DDIM timesteps', () => {
  test.each(['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const)('%s matches the float64 formula', (schedule) => {
    const cfg = schedulerConfig({ beta_schedule: schedule, beta_start: 0.0001, beta_end: 0.02 });
    const s = ddimSchedule(cfg, 50);
    const ref = referenceAlphasCumprod(referenceBetas(schedule, 1000, 0.0001, 0.02));
    const e = maxRel(s.alphasCumprod, ref);
    console.log(
      `${schedule}: alpha-bar max rel err ${e.toExponential(2)}; alpha-bar[999] = ${s.alphasCumprod[999].toExponential(4)}`,
    );
    expect(e).toBeLessThan(1e-12);
  });

  test("Stable Diffusion's scheduler: known values and leading/trailing/linspace spacing", () => {
    const sd = ddimSchedule(schedulerConfig(), 50);
    expect(sd.alphasCumprod[999]).toBeCloseTo(0.0047, 4); // SD v1 scaled_linear(0.00085, 0.012)
    expect(sd.finalAlphaCumprod).toBeCloseTo(1 - 0.00085, 10); // set_alpha_to_one = false
    expect(Array.from(sd.timesteps.slice(0, 3))).toEqual([981, 961, 941]);
    expect(sd.timesteps[49]).toBe(1);
    expect(sd.step(49)).toMatchObject({ t: 1, prevT: -19, alphaBarPrev: sd.finalAlphaCumprod });
    const trailing = ddimSchedule(schedulerConfig({ timestep_spacing: 'trailing' }), 50).timesteps;
    expect([trailing[0], trailing[49]]).toEqual([999, 19]);
    const lin = ddimSchedule(schedulerConfig({ timestep_spacing: 'linspace' }), 50).timesteps;
    expect([lin[0], lin[49]]).toEqual([999, 0]);
    expect(() => ddimSchedule(schedulerConfig(), 1001)).toThrow(/num_inference_steps must be in \[1, 1000\]/);
  });
});

describe('fused DDIM step with log-prob (CPU)', () => {
  test('backward agrees with finite differences of the kernel itself (incl. clipped elements)', () => {
    const rng = new Rng(seed ^ 0xfd);
    const B = 2,
      N = 64;
    const x = rng.normals(B * N, 3),
      cond = rng.normals(B * N),
      uncond = rng.normals(B * N),
      prev = rng.normals(B * N);
    const base: DdimStepInput = {
      batch: B,
      perSample: N,
      sample: x,
      modelOutput: cond,
      modelOutputUncond: uncond,
      guidanceScale: 3,
      alphaBarT: [0.3, 0.7],
      alphaBarPrev: [0.4, 0.75],
      eta: 1,
      clipSample: true,
      clipSampleRange: 1,
      prevSample: prev,
    };
    const g = Float64Array.from([1.3, -0.7]);
    const grads = ddimStepBackward(base, g);
    const objective = (c: Float32Array, u: Float32Array) => {
      const lp = ddimStep({ ...base, modelOutput: c, modelOutputUncond: u }).logProb;
      return g[0] * lp[0] + g[1] * lp[1];
    };
    let worst = 0,
      clippedProbes = 0,
      kinkProbes = 0;
    const h = 1e-3;
    const at = [0.3, 0.7];
    for (const which of ['cond', 'uncond'] as const) {
      for (let k = 0; k < B * N; k += 5) {
        const a = at[Math.floor(k / N)],
          m = uncond[k] + 3 * (cond[k] - uncond[k]);
        const x0 = (x[k] - Math.sqrt(1 - a) * m) / Math.sqrt(a);
        // A probe whose +-h step moves x0 across the clip boundary sees the kink, not the derivative.
        const x0Step = (3 * h * Math.sqrt(1 - a)) / Math.sqrt(a);
        if (Math.abs(Math.abs(x0) - 1) < 2 * x0Step) {
          kinkProbes++;
          continue;
        }
        if (Math.abs(x0) > 1) clippedProbes++;
        const c = Float32Array.from(cond),
          u = Float32Array.from(uncond);
        const arr = which === 'cond' ? c : u;
        const v = arr[k];
        arr[k] = v + h;
        const lp1 = objective(c, u);
        arr[k] = v - h;
        const lp0 = objective(c, u);
        const fd = (lp1 - lp0) / (Math.fround(v + h) - Math.fround(v - h)); // the float32 step actually taken
        const an = which === 'cond' ? grads.gradModelOutput[k] : grads.gradModelOutputUncond![k];
        worst = Math.max(worst, Math.abs(fd - an) / Math.max(Math.abs(an), Math.abs(fd), 1e-3));
      }
    }
    console.log(
      `step backward vs finite differences: max rel err ${worst.toExponential(2)} (${clippedProbes} probes with x0 clipped, ${kinkProbes} at the clip boundary skipped)`,
    );
    expect(clippedProbes).toBeGreaterThan(0);
    expect(worst).toBeLessThan(2e-3);
  });
});

describe('seeded (Philox) noise', () => {
  const rng = new Rng(seed ^ 0x5eed);
  const B = 4,
    N = 50000;
  const input: DdimStepInput = {
    batch: B,
    perSample: N,
    sample: rng.normals(B * N),
    modelOutput: rng.normals(B * N),
    alphaBarT: 0.5,
    alphaBarPrev: 0.6,
    eta: 1,
    seed: 1234,
  };

  test('reproducible, standard normal, independent per sample, and re-scored exactly', () => {
    const a = ddimStep(input),
      b = ddimStep(input);
    expect(Buffer.from(a.prevSample.buffer).equals(Buffer.from(b.prevSample.buffer))).toBe(true);
    const mean = ddimStep({ ...input, noise: new Float32Array(B * N) }).prevSample; // zero noise: x_prev = mu
    const std = Math.sqrt((0.4 / 0.5) * (1 - 0.5 / 0.6));
    const z = a.prevSample.map((v, i) => (v - mean[i]) / std);
    for (let s = 0; s < B; s++) {
      let m = 0,
        v = 0;
      for (let i = 0; i < N; i++) m += z[s * N + i];
      m /= N;
      for (let i = 0; i < N; i++) v += (z[s * N + i] - m) ** 2;
      v /= N;
      expect(Math.abs(m)).toBeLessThan(0.02);
      expect(Math.abs(v - 1)).toBeLessThan(0.03);
    }
    let corr = 0;
    for (let i = 0; i < N; i++) corr += z[i] * z[N + i];
    expect(Math.abs(corr / N)).toBeLessThan(0.02);
    // With streamOffset 1, sample 0 draws stream 1: exactly the noise sample 1 drew before.
    const shifted = ddimStep({ ...input, streamOffset: 1 }).prevSample;
    let worst = 0;
    for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs((shifted[i] - mean[i]) / std - z[N + i]));
    expect(worst).toBeLessThan(1e-4); // float32 rounding of x_prev only
    const rescored = ddimStep({ ...input, prevSample: a.prevSample });
    expect(Array.from(rescored.logProb)).toEqual(Array.from(a.logProb));
  });

  test('a deterministic step (eta = 0) has log-prob 0 and zero gradient', () => {
    const r = ddimStep({ ...input, eta: 0 });
    expect(Array.from(r.logProb)).toEqual([0, 0, 0, 0]);
    const g = ddimStepBackward({ ...input, eta: 0, prevSample: r.prevSample }, new Float64Array(B).fill(1));
    expect(g.gradModelOutput.every((v) => v === 0)).toBe(true);
  });

  test('bad arguments are refused with the reason', () => {
    expect(() => ddimStep({ ...input, alphaBarT: 1.5 })).toThrow(/alpha-bar values must lie in \(0, 1\]/);
    expect(() => ddimStep({ ...input, alphaBarT: [0.5, 0.5] })).toThrow(/expected 1 or 4 values/);
    expect(() => ddimStep({ ...input, modelOutput: new Float32Array(3) })).toThrow(
      /modelOutput: expected 200000 values/,
    );
    expect(() => ddimStep({ ...input, predictionType: 'x0' as never })).toThrow(/predictionType must be/);
  });
});

describe('PPO clipped surrogate', () => {
  test('its gradient matches finite differences of its loss, with and without clipping', () => {
    const rng = new Rng(seed ^ 0x990);
    const B = 64;
    for (const clip of [1e-4, 0.2]) {
      const old = Float64Array.from({ length: B }, () => -1.5 + 0.1 * rng.normal());
      const lp = old.map((v) => v + (clip > 0.1 ? 0.3 : 3e-4) * rng.normal());
      const adv = Float64Array.from({ length: B }, () => 3 * rng.normal());
      const ours = ppoLoss({ logProb: lp, oldLogProb: old, advantages: adv, clipRange: clip, advClipMax: 5 });
      let fdWorst = 0;
      for (let b = 0; b < B; b += 3) {
        const h = 1e-7;
        const p = Float64Array.from(lp);
        p[b] += h;
        const m = Float64Array.from(lp);
        m[b] -= h;
        const f = (x: Float64Array) =>
          ppoLoss({ logProb: x, oldLogProb: old, advantages: adv, clipRange: clip, advClipMax: 5 }).loss;
        const fd = (f(p) - f(m)) / (2 * h);
        // skip probes that straddle a clip boundary (the loss has a kink there)
        const r = Math.exp(lp[b] - old[b]);
        if (Math.abs(r - (1 + clip)) < 2e-6 || Math.abs(r - (1 - clip)) < 2e-6) continue;
        // Central differences at h = 1e-7 carry about 2e-10 of float64 rounding, so the error is taken
        // relative to max(|fd|, 1e-3): a probe whose advantage is near 0 (gradient ~1e-6) would
        // otherwise report rounding as an error. Typical gradients here are 1e-2..1e-1.
        fdWorst = Math.max(fdWorst, Math.abs(fd - ours.gradLogProb[b]) / Math.max(Math.abs(fd), 1e-3));
      }
      console.log(
        `ppo clip ${clip}: clipfrac ${ours.clipfrac.toFixed(2)}, gradient rel err vs FD ${fdWorst.toExponential(2)}`,
      );
      expect(ours.clipfrac).toBeGreaterThan(clip > 0.1 ? 0.1 : 0.3); // both branches of the clip are probed
      expect(fdWorst).toBeLessThan(1e-5);
    }
  });
});

describe('debug CLI', () => {
  // On a GPU machine the CLI's --device cuda path is tested by the CUDA suite (test/cuda) instead.
  const noGpu = loadAddon().info().cuda.usable ? test.skip : test;
  noGpu('CUDA on a machine without a GPU is a clear error, not a crash', () => {
    const dir = tmpDir('nocuda');
    writeSafetensors(path.join(dir, 'p.safetensors'), {
      log_prob: { data: Float32Array.from([-1]), shape: [1] },
      old_log_prob: { data: Float32Array.from([-1]), shape: [1] },
      advantages: { data: Float32Array.from([1]), shape: [1] },
      clip_range: { data: Float32Array.from([0.2]), shape: [] },
      adv_clip_max: { data: Float32Array.from([5]), shape: [] },
    });
    const r = runCli([
      'debug',
      'ppo',
      '--device',
      'cuda',
      '--in',
      path.join(dir, 'p.safetensors'),
      '--out',
      path.join(dir, 'o.safetensors'),
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/CUDA is not usable|compiled without CUDA/);
  });
});
