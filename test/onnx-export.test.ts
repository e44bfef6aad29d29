/**
 * ONNX export round trips: the engine's ImageEncoder and text tower written with onnx-proto, run
 * by onnxruntime-node, against the engine's own forward on the same inputs (max error reported).
 */
import * as ort from 'onnxruntime-node';
import { createImageEncoder } from '../src/engine/image-encoder';
import { createTextEncoder } from '../src/engine/text-encoder';
import { exportImageEncoder } from '../src/onnx/export-image-encoder';
import { exportTextTower } from '../src/onnx/export-text-encoder';
import { idTensor } from '../src/onnx/runtime';
import { Rng, testSeed } from '../src/util/random';

const seed = testSeed();
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('image encoder: onnxruntime matches the engine', async () => {
  const cfg = { in_channels: 1, image_size: 32, out_dim: 5, groups: 4, channels: [8, 16, 16] };
  const enc = createImageEncoder(cfg, seed);
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: 3 * 32 * 32 }, () => rng.normal());
  const want = enc.forward({ data: x, shape: [3, 1, 32, 32] });
  const bytes = exportImageEncoder(
    enc,
    cfg,
    {
      raw: 'logits',
      sigmoid: 'probabilities',
      affine: { name: 'shifted', scale: [1, 1, 1, 1, 2], offset: [1, 2, 3, 4, 5] },
    },
    'test',
  );
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run({ image: new ort.Tensor('float32', x, [3, 1, 32, 32]) });
  const err = maxAbs(out.logits.data as Float32Array, want.data);
  const scale = Math.max(...Array.from(want.data, Math.abs));
  console.log(
    `image encoder ONNX vs engine: max abs error ${err.toExponential(2)} (outputs up to ${scale.toFixed(2)})`,
  );
  expect(err).toBeLessThan(1e-4 * Math.max(1, scale));
  const probs = out.probabilities.data as Float32Array,
    shifted = out.shifted.data as Float32Array;
  for (let i = 0; i < want.data.length; i++) {
    expect(Math.abs(probs[i] - 1 / (1 + Math.exp(-want.data[i])))).toBeLessThan(1e-5);
    expect(Math.abs(shifted[i] - want.data[i] * (i % 5 === 4 ? 2 : 1) - ((i % 5) + 1))).toBeLessThan(1e-4);
  }
});

test('text tower (built-in text encoder + masked mean): onnxruntime matches the engine', async () => {
  const cfg = { vocab_size: 30, max_length: 12, width: 16, layers: 2, heads: 4 };
  const enc = createTextEncoder(cfg, seed);
  const rng = new Rng(seed + 1);
  const B = 3,
    L = 10;
  const ids = Int32Array.from({ length: B * L }, () => rng.int(0, 29));
  const lens = [10, 4, 1];
  const mask = new Float32Array(B * L);
  lens.forEach((n, b) => mask.fill(1, b * L, b * L + n));
  const tokens = enc.forward({ ids, shape: [B, L], mask });
  const D = cfg.width,
    want = new Float32Array(B * D);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < lens[b]; t++)
      for (let d = 0; d < D; d++) want[b * D + d] += tokens.data[(b * L + t) * D + d] / lens[b];
  const s = await ort.InferenceSession.create(exportTextTower(enc, cfg, L, 'test'));
  const out = await s.run({
    input_ids: idTensor(ids, [B, L]),
    attention_mask: idTensor(Int32Array.from(mask), [B, L]),
  });
  const err = maxAbs(out.embedding.data as Float32Array, want);
  console.log(`text tower ONNX vs engine: max abs error ${err.toExponential(2)}`);
  expect(err).toBeLessThan(1e-4);
});
