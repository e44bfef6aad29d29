/**
 * ONNX export of the built-in text encoder followed by masked mean pooling: input_ids and
 * attention_mask (int64 [N, L]) -> "embedding" [N, width], the text tower of the report-image dual
 * encoder. Mirrors native/model/text_encoder.cc: token + position embeddings; per layer
 * x + attn(LN1(x)) (padding keys masked) and h + fc2(GELU_erf(fc1(LN2(h)))); final LayerNorm.
 */
import type { NativeTextEncoder, TextEncoderConfig } from '../engine/text-encoder';
import { GraphBuilder } from './graph';

/** [out, in] row-major -> [in, out], so that MatMul(x, W^T) is a Linear layer. */
function transposed(w: { data: Float32Array; shape: number[] }): { data: Float32Array; shape: number[] } {
  const [o, i] = w.shape;
  const t = new Float32Array(o * i);
  for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) t[c * o + r] = w.data[r * i + c];
  return { data: t, shape: [i, o] };
}

export function exportTextTower(
  enc: NativeTextEncoder,
  cfg: TextEncoderConfig,
  length: number,
  doc: string,
): Uint8Array {
  const g = new GraphBuilder('cxrl_text_tower');
  const D = cfg.width,
    H = cfg.heads,
    dh = D / H;
  const P = (n: string) => enc.getParam(n);
  const init = (n: string) => {
    const t = P(n);
    return g.floats(n, t.data, t.shape);
  };
  const linear = (x: string, n: string, bias: boolean) => {
    const wt = transposed(P(`${n}.weight`));
    const y = g.op('MatMul', [x, g.floats(`${n}.weight_t`, wt.data, wt.shape)]);
    return bias ? g.op('Add', [y, init(`${n}.bias`)]) : y;
  };
  const layerNorm = (x: string, n: string) =>
    g.op('LayerNormalization', [x, init(`${n}.weight`), init(`${n}.bias`)], { axis: { i: -1 }, epsilon: { f: 1e-5 } });

  const ids = g.input('input_ids', 'int64', ['batch', length]);
  const maskIn = g.input('attention_mask', 'int64', ['batch', length]);
  const mask = g.op('Cast', [maskIn], { to: { i: 1 } });
  const pos = P('position_embedding.weight');
  let x = g.op('Add', [
    g.op('Gather', [init('token_embedding.weight'), ids], { axis: { i: 0 } }),
    g.floats('position_embedding.used', pos.data.subarray(0, length * D), [length, D]),
  ]);
  // additive key bias: 0 for real tokens, -1e9 for padding (exp underflows to exactly 0)
  const keyBias = g.op('Unsqueeze', [
    g.op('Mul', [g.op('Sub', [mask, g.floats('one', [1], [])]), g.floats('big', [1e9], [])]),
    g.int64s('axes_1_2', [1, 2]),
  ]);
  const heads = g.int64s('heads_shape', [0, 0, H, dh]),
    merged = g.int64s('merged_shape', [0, 0, D]);
  for (let l = 0; l < cfg.layers; l++) {
    const n = `layers.${l}`;
    const h = layerNorm(x, `${n}.norm1`);
    const split = (t: string, perm: number[]) =>
      g.op('Transpose', [g.op('Reshape', [t, heads])], { perm: { ints: perm } });
    const q = split(linear(h, `${n}.attn.to_q`, false), [0, 2, 1, 3]);
    const kT = split(linear(h, `${n}.attn.to_k`, false), [0, 2, 3, 1]);
    const v = split(linear(h, `${n}.attn.to_v`, false), [0, 2, 1, 3]);
    const scores = g.op('Add', [
      g.op('Mul', [g.op('MatMul', [q, kT]), g.floats(`${n}.scale`, [1 / Math.sqrt(dh)], [])]),
      keyBias,
    ]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: { i: -1 } }), v]);
    const attn = linear(
      g.op('Reshape', [g.op('Transpose', [ctx], { perm: { ints: [0, 2, 1, 3] } }), merged]),
      `${n}.attn.to_out.0`,
      true,
    );
    x = g.op('Add', [x, attn]);
    const f = linear(layerNorm(x, `${n}.norm2`), `${n}.mlp.fc1`, true);
    const gelu = g.op('Mul', [
      g.op('Mul', [f, g.floats(`${n}.half`, [0.5], [])]),
      g.op('Add', [
        g.op('Erf', [g.op('Mul', [f, g.floats(`${n}.inv_sqrt2`, [Math.SQRT1_2], [])])]),
        g.floats(`${n}.one`, [1], []),
      ]),
    ]);
    x = g.op('Add', [x, linear(gelu, `${n}.mlp.fc2`, true)]);
  }
  const tokens = layerNorm(x, 'final_norm');
  // masked mean over tokens
  const m3 = g.op('Unsqueeze', [mask, g.int64s('axes_2', [2])]);
  const axis1 = g.int64s('axes_1', [1]);
  const sum = g.op('ReduceSum', [g.op('Mul', [tokens, m3]), axis1], { keepdims: { i: 0 } });
  const count = g.op('ReduceSum', [m3, axis1], { keepdims: { i: 0 } });
  g.op('Div', [sum, count], {}, 'embedding');
  g.output('embedding', ['batch', D]);
  return g.encode(doc);
}
