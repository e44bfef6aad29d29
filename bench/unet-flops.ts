/**
 * Forward FLOPs of a UNet2DConditionModel config (a multiply-add counts 2): convolutions, linear
 * layers and the two attention matrix products; norms, activations and additions are left out
 * (they are memory-bound and small in FLOPs). Used to state each benchmark's achieved GFLOP/s.
 */
import type { UNetConfig } from '../src/engine/unet-config';

export function unetForwardFlops(c: UNetConfig, batch: number, contextTokens: number): number {
  const boc = c.block_out_channels;
  const lpb = c.layers_per_block ?? 2;
  const ctx = c.cross_attention_dim;
  const S = c.sample_size;
  let flops = 0;
  const conv = (cin: number, cout: number, k: number, hw: number) => (flops += 2 * cin * cout * k * k * hw);
  const linear = (cin: number, cout: number, tokens: number) => (flops += 2 * cin * cout * tokens);
  const resnet = (cin: number, cout: number, hw: number) => {
    conv(cin, cout, 3, hw);
    conv(cout, cout, 3, hw);
    if (cin !== cout) conv(cin, cout, 1, hw);
  };
  const transformer = (ch: number, hw: number) => {
    linear(ch, ch, hw); // proj_in (1x1 conv or linear: the same count)
    linear(ch, 3 * ch, hw); // self-attention q, k, v
    flops += 2 * 2 * hw * hw * ch; // QK^T and PV
    linear(ch, ch, hw); // to_out
    linear(ch, ch, hw); // cross-attention q
    linear(ctx, 2 * ch, contextTokens); // k, v of the text
    flops += 2 * 2 * hw * contextTokens * ch;
    linear(ch, ch, hw);
    linear(ch, 8 * ch, hw); // GEGLU projection
    linear(4 * ch, ch, hw);
    linear(ch, ch, hw); // proj_out
  };
  conv(c.in_channels, boc[0], 3, S * S);
  let ch = boc[0],
    size = S;
  const skips: number[] = [ch];
  c.down_block_types.forEach((kind, i) => {
    for (let j = 0; j < lpb; j++) {
      resnet(j === 0 ? ch : boc[i], boc[i], size * size);
      if (kind.startsWith('CrossAttn')) transformer(boc[i], size * size);
      skips.push(boc[i]);
    }
    ch = boc[i];
    if (i < boc.length - 1) {
      size /= 2;
      conv(ch, ch, 3, size * size);
      skips.push(ch);
    }
  });
  resnet(ch, ch, size * size);
  transformer(ch, size * size);
  resnet(ch, ch, size * size);
  const rev = [...boc].reverse();
  c.up_block_types.forEach((kind, i) => {
    for (let j = 0; j <= lpb; j++) {
      const skip = skips.pop()!;
      resnet(ch + skip, rev[i], size * size);
      ch = rev[i];
      if (kind.startsWith('CrossAttn')) transformer(ch, size * size);
    }
    if (i < boc.length - 1) {
      size *= 2;
      conv(ch, ch, 3, size * size);
    }
  });
  conv(boc[0], c.out_channels, 3, S * S);
  return flops * batch;
}
