/**
 * Noise, the noising process, and DDIM sampling with guidance: reproducible from the seed, and a
 * recorded trajectory re-scores to exactly its stored log-probabilities (PPO's ratio is then 1).
 */
import { loadAddon } from '../src/engine/native';
import { ddimStep } from '../src/engine/rl';
import { sampleDdim, SampleOptions } from '../src/engine/sampler';
import { ddimSchedule, schedulerConfig } from '../src/engine/scheduler';
import { createTextEncoder, encodeTexts } from '../src/engine/text-encoder';
import { createUNet } from '../src/engine/unet';
import { WordTokenizer } from '../src/text/tokenizer';
import { testSeed } from '../src/util/random';
import { MICRO_UNET } from './fixtures';

const seed = testSeed();
const addon = loadAddon() as unknown as {
  randn(o: object): Float32Array;
  addNoise(o: object): Float32Array;
};

test('randn: reproducible standard normals, separate streams per sample; addNoise follows the formula', () => {
  const a = addon.randn({ seed, streamOffset: 0, batch: 2, perSample: 40001 });
  expect(addon.randn({ seed, streamOffset: 0, batch: 2, perSample: 40001 })).toEqual(a);
  expect(addon.randn({ seed, streamOffset: 1, batch: 1, perSample: 40001 })).toEqual(a.subarray(40001));
  let m = 0,
    v = 0;
  for (const x of a) m += x;
  m /= a.length;
  for (const x of a) v += (x - m) ** 2;
  v /= a.length;
  expect(Math.abs(m)).toBeLessThan(0.02);
  expect(Math.abs(v - 1)).toBeLessThan(0.03);
  const x0 = addon.randn({ seed: seed + 1, streamOffset: 0, batch: 2, perSample: 5 });
  const eps = addon.randn({ seed: seed + 2, streamOffset: 0, batch: 2, perSample: 5 });
  const xt = addon.addNoise({ sample: x0, noise: eps, alphaBar: [0.3, 0.9], batch: 2, perSample: 5 });
  for (let k = 0; k < 10; k++) {
    const ab = k < 5 ? 0.3 : 0.9;
    expect(xt[k]).toBeCloseTo(Math.sqrt(ab) * x0[k] + Math.sqrt(1 - ab) * eps[k], 6);
  }
  expect(() => addon.addNoise({ sample: x0, noise: eps, alphaBar: 1.2, batch: 2, perSample: 5 })).toThrow(/\(0, 1\]/);
});

describe('DDIM sampling with guidance', () => {
  const tok = WordTokenizer.build(['small left effusion', 'enlarged heart'], { minCount: 1 });
  const enc = createTextEncoder({ vocab_size: tok.size, max_length: 8, width: 16, layers: 1, heads: 2 }, 1);
  const unet = createUNet(MICRO_UNET, 2);
  const cond = encodeTexts(enc, tok, ['small left effusion', 'enlarged heart'], 8);
  const uncond = encodeTexts(enc, tok, [''], 8);
  const opts: SampleOptions = {
    shape: [2, 1, 16, 16],
    steps: 6,
    eta: 1,
    guidanceScale: 4,
    seed,
    scheduler: schedulerConfig(),
    keepTrajectory: true,
  };

  test('the same seed gives the same images; another seed other images', async () => {
    const a = await sampleDdim(unet, cond, uncond, opts);
    const b = await sampleDdim(unet, cond, uncond, opts);
    const c = await sampleDdim(unet, cond, uncond, { ...opts, seed: seed + 1 });
    expect(a.images).toEqual(b.images);
    expect(a.images).not.toEqual(c.images);
    expect(a.images.every(Number.isFinite)).toBe(true);
    expect(a.trajectory!.latents).toHaveLength(7);
    expect(a.trajectory!.timesteps).toEqual(Array.from(ddimSchedule(schedulerConfig(), 6).timesteps));
  });

  test('re-scoring the recorded trajectory reproduces every stored log-prob exactly', async () => {
    const { trajectory } = await sampleDdim(unet, cond, uncond, opts);
    const sched = ddimSchedule(schedulerConfig(), 6);
    const B = 2,
      n = 2 * 256;
    for (let i = 0; i < 6; i++) {
      const x = trajectory!.latents[i];
      const both = new Float32Array(2 * n);
      both.set(x, 0);
      both.set(x, n);
      const ctx = new Float32Array(uncond.context.data.length * 2 + cond.context.data.length);
      ctx.set(uncond.context.data, 0);
      ctx.set(uncond.context.data, uncond.context.data.length);
      ctx.set(cond.context.data, 2 * uncond.context.data.length);
      const mask = new Float32Array(4 * 8);
      mask.set(uncond.mask.data, 0);
      mask.set(uncond.mask.data, 8);
      mask.set(cond.mask.data, 16);
      const eps = unet.forward({
        sample: { data: both, shape: [4, 1, 16, 16] },
        timestep: { data: new Float32Array(4).fill(trajectory!.timesteps[i]), shape: [4] },
        encoderHiddenStates: { data: ctx, shape: [4, 8, 16] },
        encoderAttentionMask: { data: mask, shape: [4, 8] },
      });
      const s = sched.step(i);
      const r = ddimStep({
        batch: B,
        perSample: 256,
        sample: x,
        modelOutput: eps.data.subarray(n),
        modelOutputUncond: eps.data.subarray(0, n),
        guidanceScale: 4,
        alphaBarT: s.alphaBarT,
        alphaBarPrev: s.alphaBarPrev,
        eta: 1,
        prevSample: trajectory!.latents[i + 1],
      });
      expect(Array.from(r.logProb)).toEqual(Array.from(trajectory!.logProbs[i]));
    }
  });

  test('guidance needs the unconditional embedding; scale 1 runs without it', async () => {
    await expect(sampleDdim(unet, cond, null, opts)).rejects.toThrow(/needs the unconditional embedding/);
    const r = await sampleDdim(unet, cond, null, { ...opts, guidanceScale: 1, keepTrajectory: false });
    expect(r.trajectory).toBeUndefined();
    expect(r.images).toHaveLength(512);
  });
});

test('inference mode: the same output as a training forward, bit for bit; a backward after it is refused', () => {
  const unet = createUNet(MICRO_UNET, 5);
  const input = {
    sample: { data: Float32Array.from({ length: 2 * 256 }, (_, i) => Math.sin(i * 0.37)), shape: [2, 1, 16, 16] },
    timestep: { data: Float32Array.of(900, 20), shape: [2] },
    encoderHiddenStates: { data: Float32Array.from({ length: 2 * 3 * 16 }, (_, i) => Math.cos(i)), shape: [2, 3, 16] },
  };
  const train = unet.forward(input);
  const infer = unet.forward({ ...input, inference: true });
  expect(Buffer.from(infer.data.buffer).equals(Buffer.from(train.data.buffer))).toBe(true);
  expect(() => unet.backward(infer)).toThrow(/last forward ran in inference mode/);
  unet.forward(input);
  expect(() => unet.backward(train)).not.toThrow();
});
