/**
 * LoRA on the UNet's attention projections: an adapted UNet computes what the merged weights
 * W + (alpha / rank) B A compute; only the adapters train; the file has PEFT's names under
 * `unet.` (older `lora.down` / `lora.up` names load too) and a file for another model is refused.
 */
import * as path from 'path';
import { enableLora, isLoraParam, loadLora, saveLora } from '../src/engine/lora';
import { loadAddon } from '../src/engine/native';
import { createUNet } from '../src/engine/unet';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { Rng } from '../src/util/random';
import { MICRO_UNET } from './fixtures';
import { normRel, tmpDir } from './helpers';

const rng = new Rng(11);
const input = () => ({
  sample: { data: rng.normals(2 * 16 * 16), shape: [2, 1, 16, 16] },
  timestep: { data: Float32Array.from([20, 700]), shape: [2] },
  encoderHiddenStates: { data: rng.normals(2 * 5 * 16), shape: [2, 5, 16] },
});

/** A micro UNet with rank-2 adapters whose B matrices are random (fresh adapters are zero). */
function adapted(alpha = 2) {
  const unet = createUNet(MICRO_UNET as never, 3);
  enableLora(unet, 2, alpha);
  for (const p of unet.paramInfo())
    if (p.name.endsWith('.lora_B.weight'))
      unet.setParam(
        p.name,
        rng.normals(p.shape[0] * p.shape[1]).map((v) => 0.3 * v),
      );
  return unet;
}

test('an adapted UNet equals the UNet with merged weights W + (alpha/rank) B A', () => {
  const alpha = 3,
    scale = alpha / 2;
  const unet = adapted(alpha);
  const names = unet.paramInfo().map((p) => p.name);
  const targets = names.filter((n) => n.endsWith('.lora_A.weight')).map((n) => n.slice(0, -'.lora_A.weight'.length));
  // to_q, to_k, to_v, to_out.0 of both attentions of each transformer block
  expect(targets.length).toBeGreaterThan(0);
  expect(targets.every((t) => /\.attn[12]\.(to_q|to_k|to_v|to_out\.0)$/.test(t))).toBe(true);
  const merged = createUNet(MICRO_UNET as never, 3);
  for (const t of targets) {
    const W = unet.getParam(`${t}.weight`),
      A = unet.getParam(`${t}.lora_A.weight`),
      B = unet.getParam(`${t}.lora_B.weight`);
    const [out, inp] = W.shape,
      r = A.shape[0];
    const m = Float32Array.from(W.data);
    for (let o = 0; o < out; o++)
      for (let i = 0; i < inp; i++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += B.data[o * r + k] * A.data[k * inp + i];
        m[o * inp + i] += scale * s;
      }
    merged.setParam(`${t}.weight`, m);
  }
  const x = input();
  const e = normRel(unet.forward(x).data, merged.forward(x).data);
  console.log(`LoRA forward vs merged weights: rel err ${e.toExponential(2)}`);
  expect(e).toBeLessThan(1e-5);
});

test('only the adapters train: the optimizer moves them and leaves every base weight as it was', () => {
  const unet = adapted();
  const before = Object.fromEntries(
    unet.paramInfo().map((p) => [p.name, Float32Array.from(unet.getParam(p.name).data)]),
  );
  const opt = new (loadAddon().Optimizer)(unet, { lr: 1e-2, weightDecay: 0.1 });
  const x = input();
  const y = unet.forward(x);
  unet.zeroGrad();
  unet.backward({ data: y.data.map(() => 1), shape: y.shape });
  opt.step();
  let moved = 0;
  for (const p of unet.paramInfo()) {
    const same = Array.from(unet.getParam(p.name).data).every((v, i) => v === before[p.name][i]);
    if (isLoraParam(p.name)) moved += same ? 0 : 1;
    else expect(same).toBe(true);
  }
  expect(moved).toBe(unet.paramInfo().filter((p) => isLoraParam(p.name)).length);
});

test('LoRA files: PEFT names under unet., older names load, another model is refused', () => {
  const dir = tmpDir('lora');
  const unet = adapted();
  const file = path.join(dir, 'pytorch_lora_weights.safetensors');
  saveLora(unet, file);
  const saved = readSafetensors(file);
  const keys = Object.keys(saved.tensors);
  expect(keys.every((k) => /^unet\..*\.(lora_A|lora_B)\.weight$/.test(k))).toBe(true);
  expect(saved.metadata).toMatchObject({ lora_rank: '2', lora_alpha: '2' });
  const x = input();
  const want = unet.forward(x).data;
  const fresh = createUNet(MICRO_UNET as never, 3);
  loadLora(fresh, file);
  expect(fresh.loraRank()).toBe(2);
  expect(Array.from(fresh.forward(x).data)).toEqual(Array.from(want));

  const older = path.join(dir, 'older.safetensors');
  writeSafetensors(
    older,
    Object.fromEntries(
      Object.entries(saved.tensors).map(([k, t]) => [
        k.replace('.lora_A.', '.lora.down.').replace('.lora_B.', '.lora.up.'),
        t,
      ]),
    ),
  );
  const viaOlder = createUNet(MICRO_UNET as never, 3);
  loadLora(viaOlder, older);
  expect(Array.from(viaOlder.forward(x).data)).toEqual(Array.from(want));

  // The attention-processor form: <attn>.processor.to_q_lora.down.weight, to_out_lora for to_out.0.
  const processorForm = path.join(dir, 'processor.safetensors');
  writeSafetensors(
    processorForm,
    Object.fromEntries(
      Object.entries(saved.tensors).map(([k, t]) => [
        k.replace(
          /\.(to_q|to_k|to_v|to_out\.0)\.lora_([AB])\.weight$/,
          (_m, mod: string, ab: string) =>
            `.processor.${mod === 'to_out.0' ? 'to_out' : mod}_lora.${ab === 'A' ? 'down' : 'up'}.weight`,
        ),
        t,
      ]),
    ),
  );
  expect(Object.keys(readSafetensors(processorForm).tensors)[0]).toMatch(
    /\.processor\.to_\w+_lora\.(down|up)\.weight$/,
  );
  const viaProcessor = createUNet(MICRO_UNET as never, 3);
  loadLora(viaProcessor, processorForm);
  expect(Array.from(viaProcessor.forward(x).data)).toEqual(Array.from(want));

  const other = createUNet({ ...MICRO_UNET, cross_attention_dim: 24 } as never, 3);
  expect(() => loadLora(other, file)).toThrow(
    /LoRA weights do not match the model: 0 missing .*\d+ with another shape/,
  );
  expect(() => enableLora(unet, 2)).toThrow(/LoRA is already enabled/);
});
