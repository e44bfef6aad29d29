/**
 * The built-in text encoder against an independent PyTorch autograd reference (output and every
 * parameter gradient, with padding masks), the tokenizer, and AdamW on the text encoder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadAddon } from '../src/engine/native';
import { createTextEncoder, encodeTexts } from '../src/engine/text-encoder';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { BOS, EOS, PAD, UNK, WordTokenizer } from '../src/text/tokenizer';
import { Rng, testSeed } from '../src/util/random';
import { relError, runPython, tmpDir } from './helpers';

const seed = testSeed();
beforeAll(() => console.log(`text encoder: seed ${seed} (CXRL_TEST_SEED to repeat)`));

test('output and every parameter gradient match PyTorch within 1e-4', () => {
  const dir = tmpDir('te-parity');
  const cfg = { vocab_size: 37, max_length: 12, width: 24, layers: 2, heads: 3, mlp_ratio: 4 };
  const enc = createTextEncoder(cfg, seed);
  const rng = new Rng(seed);
  const B = 3,
    L = 10;
  const ids = new Int32Array(B * L),
    mask = new Float32Array(B * L);
  for (let b = 0; b < B; b++) {
    const len = 3 + rng.int(0, L - 3);
    for (let t = 0; t < L; t++) {
      ids[b * L + t] = t < len ? rng.int(1, cfg.vocab_size - 1) : 0;
      mask[b * L + t] = t < len ? 1 : 0;
    }
  }
  const out = enc.forward({ ids, shape: [B, L], mask });
  const grad = { data: rng.normals(out.data.length), shape: out.shape };
  enc.zeroGrad();
  enc.backward(grad);
  const files = {
    cfg: path.join(dir, 'c.json'),
    w: path.join(dir, 'w.safetensors'),
    inp: path.join(dir, 'in.safetensors'),
    ref: path.join(dir, 'ref.safetensors'),
  };
  fs.writeFileSync(files.cfg, JSON.stringify(cfg));
  enc.saveWeights(files.w);
  writeSafetensors(files.inp, {
    ids: { data: Float32Array.from(ids), shape: [B, L] },
    mask: { data: mask, shape: [B, L] },
    grad_output: grad,
  });
  runPython('text_encoder_reference.py', [files.cfg, files.w, files.inp, files.ref]);
  const ref = readSafetensors(files.ref).tensors;
  let worst = { key: 'output', rel: relError(out, ref.output).rel };
  for (const p of enc.paramInfo()) {
    const e = relError(enc.getGrad(p.name), ref[`grad.${p.name}`]).rel;
    if (e > worst.rel) worst = { key: p.name, rel: e };
  }
  console.log(
    `text encoder: ${enc.paramInfo().length} parameter tensors; output rel err ${relError(out, ref.output).rel.toExponential(2)}; worst ${worst.key} ${worst.rel.toExponential(2)}`,
  );
  expect(worst.rel).toBeLessThan(1e-4);
});

test('tokenizer: vocabulary from reports, BOS/EOS/PAD/UNK, truncation, round trip through a file', () => {
  const tok = WordTokenizer.build(
    [
      'Small left pleural effusion.',
      'No pleural effusion.',
      'Small right effusion; no pneumothorax.',
      'no focal consolidation',
    ],
    { minCount: 2 },
  );
  expect(tok.vocab.slice(0, 4)).toEqual(['[PAD]', '[UNK]', '[BOS]', '[EOS]']);
  expect(tok.vocab.slice(4, 7)).toEqual(['.', 'effusion', 'no']); // 3 each: ties alphabetical
  const e = tok.encode('Small EFFUSION of the heart', 8);
  expect(Array.from(e.ids.slice(0, 7))).toEqual([
    BOS,
    tok.vocab.indexOf('small'),
    tok.vocab.indexOf('effusion'),
    UNK,
    UNK,
    UNK,
    EOS,
  ]);
  expect(Array.from(e.mask)).toEqual([1, 1, 1, 1, 1, 1, 1, 0]);
  expect(e.ids[7]).toBe(PAD);
  const t = tok.encode('small small small small small small', 5);
  expect(Array.from(t.ids)).toEqual([
    BOS,
    tok.vocab.indexOf('small'),
    tok.vocab.indexOf('small'),
    tok.vocab.indexOf('small'),
    EOS,
  ]);
  expect(Array.from(tok.encode('', 4).mask)).toEqual([1, 1, 0, 0]);
  expect(tok.decode(tok.encode('no pleural effusion.', 10).ids)).toBe('no pleural effusion .');
  const f = path.join(tmpDir('tok'), 'tokenizer.json');
  tok.save(f);
  expect(WordTokenizer.load(f).vocab).toEqual(tok.vocab);
  fs.writeFileSync(f, '{"format":"other"}');
  expect(() => WordTokenizer.load(f)).toThrow(/not a cxrl-word-tokenizer file/);
});

test('the encoder and AdamW learn to separate two reports (joint training works end to end)', () => {
  const tok = WordTokenizer.build(['cardiomegaly', 'cardiomegaly', 'no acute process', 'no acute process'], {
    minCount: 1,
  });
  const enc = createTextEncoder({ vocab_size: tok.size, max_length: 8, width: 16, layers: 1, heads: 2 }, seed);
  const opt = new (loadAddon().Optimizer)(enc, { lr: 3e-2, weightDecay: 0 });
  // Objective: the mean of feature 0 over real tokens should be +1 for one report and -1 for the other.
  const texts = ['cardiomegaly', 'no acute process'],
    target = [1, -1];
  // 100 steps: over 200 seeds the loss after 60 steps was above 0.05 for 2 (a CI failure), after 100
  // at most 6.6e-4; the initial loss was at least 0.019, so a tenth of it shows learning.
  let loss = 0,
    initial = NaN;
  for (let step = 0; step < 100; step++) {
    const { context, mask } = encodeTexts(enc, tok, texts, 8);
    const g = new Float32Array(context.data.length);
    loss = 0;
    for (let b = 0; b < 2; b++) {
      let n = 0,
        m = 0;
      for (let t = 0; t < 8; t++)
        if (mask.data[b * 8 + t]) {
          m += context.data[(b * 8 + t) * 16];
          n++;
        }
      m /= n;
      loss += (m - target[b]) ** 2;
      for (let t = 0; t < 8; t++) if (mask.data[b * 8 + t]) g[(b * 8 + t) * 16] = (2 * (m - target[b])) / n;
    }
    if (step === 0) initial = loss;
    enc.zeroGrad();
    enc.backward({ data: g, shape: context.shape });
    opt.step();
  }
  console.log(`text encoder + AdamW: loss ${initial.toExponential(2)} -> ${loss.toExponential(2)} after 100 steps`);
  expect(loss).toBeLessThan(0.01);
  expect(loss).toBeLessThan(initial / 10);
});
