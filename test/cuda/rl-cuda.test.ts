/**
 * CUDA kernels against their CPU twins (the reference): the fused DDIM step (every prediction
 * type, guidance, clipping, each noise source), its backward, and PPO. Run on a GPU machine by
 * `npm run test:cuda`; on a machine without a usable device this suite fails, it never skips.
 */
import { loadAddon } from '../../src/engine/native';
import { ddimStep, ddimStepBackward, DdimStepInput, ppoLoss } from '../../src/engine/rl';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { Rng, testSeed } from '../../src/util/random';
import { normRel, runCli, tmpDir } from '../helpers';

const seed = testSeed();

beforeAll(() => {
  const info = loadAddon().info();
  console.log(`CUDA suite: seed ${seed}; device ${info.cuda.deviceName || 'none'}`);
  if (!info.cuda.usable) throw new Error(`CUDA suite needs a usable GPU: ${info.cuda.reason}`);
});

describe('DDIM step: CUDA vs CPU', () => {
  const cases: [string, boolean, boolean, 'seeded' | 'noise' | 'prev'][] = [];
  for (const p of ['epsilon', 'sample', 'v_prediction'])
    for (const g of [false, true])
      for (const src of ['seeded', 'noise', 'prev'] as const) cases.push([p, g, p !== 'epsilon', src]);
  test.each(cases)('%s guided=%s clip=%s noise=%s', (pred, guided, clip, src) => {
    const rng = new Rng(seed + pred.length + (guided ? 100 : 0) + src.length);
    const B = 5,
      N = 3 * 16384 + 77;
    const input: DdimStepInput = {
      batch: B,
      perSample: N,
      sample: rng.normals(B * N),
      modelOutput: rng.normals(B * N),
      modelOutputUncond: guided ? rng.normals(B * N) : undefined,
      guidanceScale: 5,
      alphaBarT: [0.01, 0.2, 0.5, 0.8, 0.95],
      alphaBarPrev: [0.02, 0.25, 0.55, 0.85, 0.99],
      eta: 0.8,
      predictionType: pred as DdimStepInput['predictionType'],
      clipSample: clip,
      seed: 77,
      streamOffset: 3,
      noise: src === 'noise' ? rng.normals(B * N) : undefined,
      prevSample: src === 'prev' ? rng.normals(B * N) : undefined,
    };
    const cpu = ddimStep(input, 'cpu'),
      gpu = ddimStep(input, 'cuda');
    const ePrev = normRel(gpu.prevSample, cpu.prevSample),
      eLp = normRel(gpu.logProb, cpu.logProb);
    const g = Float64Array.from({ length: B }, () => rng.normal());
    const back = { ...input, noise: undefined, prevSample: cpu.prevSample };
    const gc = ddimStepBackward(back, g, 'cpu'),
      gg = ddimStepBackward(back, g, 'cuda');
    const eG = normRel(gg.gradModelOutput, gc.gradModelOutput);
    console.log(
      `${pred} guided=${guided} ${src}: prev ${ePrev.toExponential(2)}, log_prob ${eLp.toExponential(2)}, grad ${eG.toExponential(2)}`,
    );
    expect(ePrev).toBeLessThan(1e-6);
    expect(eLp).toBeLessThan(1e-9);
    expect(eG).toBeLessThan(1e-6);
    if (guided) expect(normRel(gg.gradModelOutputUncond!, gc.gradModelOutputUncond!)).toBeLessThan(1e-6);
  });
});

describe('PPO: CUDA vs CPU', () => {
  test('loss, gradient, approx_kl, clipfrac', () => {
    const rng = new Rng(seed ^ 7);
    const B = 300;
    const old = Float64Array.from({ length: B }, () => rng.normal());
    const lp = old.map((v) => v + 0.3 * rng.normal());
    const adv = Float64Array.from({ length: B }, () => 4 * rng.normal());
    const args = { logProb: lp, oldLogProb: old, advantages: adv, clipRange: 0.2, advClipMax: 5 };
    const c = ppoLoss(args, 'cpu'),
      g = ppoLoss(args, 'cuda');
    expect(Math.abs(g.loss - c.loss)).toBeLessThan(1e-12);
    expect(g.clipfrac).toBe(c.clipfrac);
    expect(Math.abs(g.approxKl - c.approxKl)).toBeLessThan(1e-12);
    expect(c.approxKl).toBeGreaterThan(0);
    expect(normRel(g.gradLogProb, c.gradLogProb)).toBeLessThan(1e-12);
  });
});

describe('the CLI on the GPU', () => {
  test('debug ppo --device cuda writes what the CPU kernel writes', () => {
    const dir = tmpDir('cuda-cli');
    const f = (v: number[]) => ({ data: Float32Array.from(v), shape: [v.length] });
    writeSafetensors(`${dir}/p.safetensors`, {
      log_prob: f([-1, -0.9, -1.2]),
      old_log_prob: f([-1, -1, -1]),
      advantages: f([1, -2, 0.5]),
      clip_range: { data: Float32Array.of(0.2), shape: [] },
      adv_clip_max: { data: Float32Array.of(5), shape: [] },
    });
    for (const device of ['cpu', 'cuda']) {
      const r = runCli([
        'debug',
        'ppo',
        '--device',
        device,
        '--in',
        `${dir}/p.safetensors`,
        '--out',
        `${dir}/${device}.safetensors`,
      ]);
      expect(r.status).toBe(0);
    }
    const cpu = readSafetensors(`${dir}/cpu.safetensors`).tensors,
      gpu = readSafetensors(`${dir}/cuda.safetensors`).tensors;
    for (const k of ['loss', 'grad_log_prob', 'approx_kl', 'clipfrac'])
      expect(Array.from(gpu[k].data)).toEqual(Array.from(cpu[k].data));
  });
});
