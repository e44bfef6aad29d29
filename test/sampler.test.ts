/**
 * Noise, the noising process, and DDIM sampling with guidance: reproducible from the seed, and a
 * recorded trajectory re-scores to exactly its stored log-probabilities (PPO's ratio is then 1).
 */
import { loadAddon } from '../src/engine/native';
import { GuidedChain } from './guided-chain';
import { ddimStep, DdimStepInput } from '../src/engine/rl';
import { disposeTrajectory, initialNoise, sampleDdim, SampleOptions, stepNoiseStream } from '../src/engine/sampler';
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
    expect(a.trajectory!.latents.every((x) => x.device() === unet.device())).toBe(true);
    expect(a.trajectory!.latents[6].toHost()).toEqual(a.images); // the last latent is the sample
    expect(a.trajectory!.timesteps).toEqual(Array.from(ddimSchedule(schedulerConfig(), 6).timesteps));
    for (const r of [a, b, c]) disposeTrajectory(r.trajectory);
    expect(() => a.trajectory!.latents[0].toHost()).toThrow(/disposed/);
  });

  test('re-scoring the recorded trajectory reproduces every stored log-prob exactly', async () => {
    const { trajectory } = await sampleDdim(unet, cond, uncond, opts);
    const sched = ddimSchedule(schedulerConfig(), 6);
    const B = 2,
      n = 2 * 256;
    for (let i = 0; i < 6; i++) {
      const x = trajectory!.latents[i].toHost();
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
        prevSample: trajectory!.latents[i + 1].toHost(),
      });
      expect(Array.from(r.logProb)).toEqual(Array.from(trajectory!.logProbs[i]));
    }
  });

  test('the engine sampling step equals the chain of separate engine calls, bit for bit (images, trajectory, means)', async () => {
    const o = { ...opts, keepMeans: true, eta: [1, 0.5, 0, 1, 1, 0.3] };
    const engine = await sampleDdim(unet, cond, uncond, o);
    const composed = await composedSampler(o);
    expect(Buffer.from(engine.images.buffer).equals(Buffer.from(composed.images.buffer))).toBe(true);
    for (let i = 0; i <= 6; i++)
      expect(
        Buffer.from(engine.trajectory!.latents[i].toHost().buffer).equals(Buffer.from(composed.latents[i].buffer)),
      ).toBe(true);
    for (let i = 0; i < 6; i++) {
      expect(Array.from(engine.trajectory!.logProbs[i])).toEqual(Array.from(composed.logProbs[i]));
      expect(
        Buffer.from(engine.trajectory!.means![i].toHost().buffer).equals(Buffer.from(composed.means[i].buffer)),
      ).toBe(true);
    }
  });

  /** The sampler as it was composed in TypeScript: guided forward, then the step (and its mean) on the host. */
  async function composedSampler(o: SampleOptions & { eta: number[] }) {
    const [B, C, H, W] = o.shape,
      per = C * H * W;
    const sched = ddimSchedule(o.scheduler, o.steps);
    const denoiser = new GuidedChain(unet, B, cond, uncond, o.guidanceScale);
    let x = initialNoise(o.seed, B, per);
    const latents = [x],
      logProbs: Float64Array[] = [],
      means: Float32Array[] = [];
    for (let i = 0; i < o.steps; i++) {
      const out = await denoiser.predict(x, [C, H, W], sched.timesteps[i]);
      const input: DdimStepInput = {
        batch: B,
        perSample: per,
        sample: x,
        modelOutput: out.cond,
        modelOutputUncond: out.uncond,
        guidanceScale: o.guidanceScale,
        schedule: sched,
        stepIndex: i,
        eta: o.eta[i],
        seed: o.seed,
        streamOffset: stepNoiseStream(i, B),
      };
      const step = ddimStep(input);
      means.push(ddimStep({ ...input, noise: new Float32Array(B * per) }).prevSample);
      x = step.prevSample;
      latents.push(x);
      logProbs.push(step.logProb);
    }
    return { images: x, latents, logProbs, means };
  }

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

describe('EngineTensor handles', () => {
  const { EngineTensor } = loadAddon();

  test('round trip, shape, device; a disposed handle is refused by name; a GPU handle needs a GPU', () => {
    const data = Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3);
    const t = EngineTensor.fromHost(data, [2, 3, 4]);
    expect(t.shape()).toEqual([2, 3, 4]);
    expect(t.device()).toBe('cpu');
    expect(Array.from(t.toHost())).toEqual(Array.from(data));
    t.dispose();
    t.dispose(); // twice is harmless
    expect(() => t.toHost()).toThrow(/toHost: the EngineTensor was disposed/);
    expect(() => EngineTensor.fromHost(data, [5, 5])).toThrow(/24 values do not fill shape \[5,5\]/);
    if (!loadAddon().info().cuda.usable)
      expect(() => EngineTensor.fromHost(data, [24], 'cuda')).toThrow(/CUDA is not usable/);
  });

  test('gatherRows: row k is rows[k] of sources[k]; bad rows and non-handles are refused by name', () => {
    const a = EngineTensor.fromHost(
      Float32Array.from({ length: 12 }, (_, i) => i),
      [3, 2, 2],
    );
    const b = EngineTensor.fromHost(
      Float32Array.from({ length: 12 }, (_, i) => 100 + i),
      [3, 2, 2],
    );
    const g = EngineTensor.gatherRows([b, a, b], [2, 0, 1]);
    expect(g.shape()).toEqual([3, 2, 2]);
    expect(Array.from(g.toHost())).toEqual([108, 109, 110, 111, 0, 1, 2, 3, 104, 105, 106, 107]);
    expect(() => EngineTensor.gatherRows([a], [3])).toThrow(/row 3 of source 0 is outside \[0, 3\)/);
    expect(() => EngineTensor.gatherRows([a, b], [0])).toThrow(/one row per source/);
    expect(() => EngineTensor.gatherRows([a, {} as never], [0, 0])).toThrow(/sources\[1\] must be an EngineTensor/);
    const other = EngineTensor.fromHost(new Float32Array(6), [2, 3]);
    expect(() => EngineTensor.gatherRows([a, other], [0, 0])).toThrow(
      /source 1 is \[2,3\], source 0 has rows of \[2,2\]/,
    );
    for (const t of [a, b, g, other]) t.dispose();
  });

  test('no leak over a long loop: resident memory stays flat with dispose, and bounded without it', async () => {
    const mb = new Float32Array(256 * 1024); // 1 MiB per handle
    const rssMiB = () => process.memoryUsage().rss / 1048576;
    for (let i = 0; i < 200; i++) EngineTensor.fromHost(mb, [mb.length]).dispose(); // warm up the allocator
    const before = rssMiB();
    // (No toHost here: each call leaves 1 MiB of JavaScript garbage whose collection V8 may
    // defer, which read as 25-56 MiB of "growth" that has nothing to do with the handles.)
    for (let i = 0; i < 3000; i++) EngineTensor.fromHost(mb, [mb.length]).dispose();
    const afterDispose = rssMiB();
    // Without dispose the garbage collector frees them (V8 is told about each handle's bytes); Node
    // runs the finalizers when the event loop turns, as it does between a sampler's steps.
    let peak = afterDispose;
    for (let i = 0; i < 3000; i++) {
      EngineTensor.fromHost(mb, [mb.length]);
      if (i % 50 === 0) {
        await new Promise((r) => setImmediate(r));
        peak = Math.max(peak, rssMiB());
      }
    }
    console.log(
      `EngineTensor, 3000 x 1 MiB: RSS ${before.toFixed(0)} -> ${afterDispose.toFixed(0)} MiB with dispose; peak ${peak.toFixed(0)} MiB relying on the GC`,
    );
    expect(afterDispose - before).toBeLessThan(64);
    expect(peak - before).toBeLessThan(1024); // 3000 MiB were allocated in all
  });
});
