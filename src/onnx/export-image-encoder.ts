/**
 * ONNX export of the engine's ImageEncoder, op for op: Conv (stride 2, pad 1) -> GroupNorm ->
 * SiLU per stage, Flatten, Gemm. GroupNorm is written as Reshape [N, G, -1] ->
 * InstanceNormalization (unit scale, zero bias: the per-group mean/variance) -> Reshape back ->
 * per-channel scale and shift, which every opset >= 6 runtime supports.
 */
import type { ImageEncoderConfig, NativeImageEncoder } from '../engine/image-encoder';
import { GraphBuilder } from './graph';

export interface ImageHeadOutputs {
  /** name of the raw head output */
  raw: string;
  /** an extra output: sigmoid of the head (classifier probabilities) */
  sigmoid?: string;
  /** an extra output raw * scale + offset (posture: psi from its scaled deviation from the identity) */
  affine?: { name: string; scale: number[]; offset: number[] };
}

/** The convolutional stages (Conv -> GroupNorm -> SiLU each); returns the last feature map [N, C, s, s]. */
function addConvStages(
  g: GraphBuilder,
  enc: NativeImageEncoder,
  cfg: ImageEncoderConfig,
  input: string,
  prefix: string,
): string {
  const p = (n: string) => enc.getParam(n);
  let x = input,
    size = cfg.image_size;
  cfg.channels.forEach((ch, i) => {
    const w = p(`stages.${i}.conv.weight`),
      b = p(`stages.${i}.conv.bias`);
    x = g.op(
      'Conv',
      [
        x,
        g.floats(`${prefix}stages.${i}.conv.weight`, w.data, w.shape),
        g.floats(`${prefix}stages.${i}.conv.bias`, b.data, b.shape),
      ],
      { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } },
    );
    size /= 2;
    const grouped = g.op('Reshape', [x, g.int64s(`${prefix}stages.${i}.group_shape`, [0, cfg.groups, -1])]);
    const normed = g.op(
      'InstanceNormalization',
      [
        grouped,
        g.floats(`${prefix}stages.${i}.ones`, new Float32Array(cfg.groups).fill(1), [cfg.groups]),
        g.floats(`${prefix}stages.${i}.zeros`, new Float32Array(cfg.groups), [cfg.groups]),
      ],
      { epsilon: { f: 1e-5 } },
    );
    const back = g.op('Reshape', [normed, g.int64s(`${prefix}stages.${i}.map_shape`, [0, ch, size, size])]);
    const gamma = p(`stages.${i}.norm.weight`),
      beta = p(`stages.${i}.norm.bias`);
    const scaled = g.op('Add', [
      g.op('Mul', [back, g.floats(`${prefix}stages.${i}.norm.weight`, gamma.data, [ch, 1, 1])]),
      g.floats(`${prefix}stages.${i}.norm.bias`, beta.data, [ch, 1, 1]),
    ]);
    x = g.op('Mul', [scaled, g.op('Sigmoid', [scaled])]);
  });
  return x;
}

export function addImageEncoder(
  g: GraphBuilder,
  enc: NativeImageEncoder,
  cfg: ImageEncoderConfig,
  input: string,
  prefix = '',
): string {
  const x = addConvStages(g, enc, cfg, input, prefix);
  const hw = enc.getParam('head.weight'),
    hb = enc.getParam('head.bias');
  return g.op(
    'Gemm',
    [
      g.op('Flatten', [x], { axis: { i: 1 } }),
      g.floats(`${prefix}head.weight`, hw.data, hw.shape),
      g.floats(`${prefix}head.bias`, hb.data, hb.shape),
    ],
    { transB: { i: 1 } },
  );
}

/** A whole image model: input "image" [N, C, S, S] in the model's value range -> the named outputs. */
export function exportImageEncoder(
  enc: NativeImageEncoder,
  cfg: ImageEncoderConfig,
  heads: ImageHeadOutputs,
  doc: string,
): Uint8Array {
  const g = new GraphBuilder('cxrl_image_model');
  const input = g.input('image', 'float', ['batch', cfg.in_channels, cfg.image_size, cfg.image_size]);
  const raw = addImageEncoder(g, enc, cfg, input);
  g.op('Identity', [raw], {}, heads.raw);
  g.output(heads.raw, ['batch', cfg.out_dim]);
  if (heads.sigmoid) {
    g.op('Sigmoid', [raw], {}, heads.sigmoid);
    g.output(heads.sigmoid, ['batch', cfg.out_dim]);
  }
  if (heads.affine) {
    const scaled = g.op('Mul', [raw, g.floats('affine_scale', heads.affine.scale, [cfg.out_dim])]);
    g.op('Add', [scaled, g.floats('affine_offset', heads.affine.offset, [cfg.out_dim])], {}, heads.affine.name);
    g.output(heads.affine.name, ['batch', cfg.out_dim]);
  }
  return g.encode(doc);
}

/**
 * The encoder's pooled embedding as a `features` model (for FID): the convolutional stages, then a
 * global average over the last feature map -> output "embedding" [N, C_last]. The head is left out.
 */
export function exportImageFeatures(enc: NativeImageEncoder, cfg: ImageEncoderConfig, doc: string): Uint8Array {
  const g = new GraphBuilder('cxrl_image_features');
  const input = g.input('image', 'float', ['batch', cfg.in_channels, cfg.image_size, cfg.image_size]);
  const map = addConvStages(g, enc, cfg, input, '');
  g.op('Flatten', [g.op('GlobalAveragePool', [map])], { axis: { i: 1 } }, 'embedding');
  g.output('embedding', ['batch', cfg.channels[cfg.channels.length - 1]]);
  return g.encode(doc);
}
