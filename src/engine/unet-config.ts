/**
 * UNet configs in diffusers' UNet2DConditionModel format. The presets are the sizes this toolkit
 * trains on a CPU; any diffusers config.json within the supported subset loads too (the engine
 * rejects unsupported options by name).
 */
import * as fs from 'fs';
import { UserError } from '../util/errors';

export interface UNetConfig {
  _class_name?: string;
  in_channels: number;
  out_channels: number;
  sample_size: number;
  block_out_channels: number[];
  down_block_types: string[];
  up_block_types: string[];
  layers_per_block: number;
  attention_head_dim: number | number[];
  cross_attention_dim: number;
  norm_num_groups: number;
  norm_eps?: number;
  use_linear_projection?: boolean;
  flip_sin_to_cos?: boolean;
  freq_shift?: number;
  [key: string]: unknown;
}

export const PRESETS: Record<string, UNetConfig> = {
  /**
   * The embedded default: 64x64 grayscale, four levels (64, 32, 16, 8) with attention only at 16x16
   * and 8x8. Deeper than `tiny` (a wider receptive field for whole-chest structure such as the heart
   * width) and about twice as fast per step, because self-attention over 32x32 maps dominates tiny.
   */
  small: {
    _class_name: 'UNet2DConditionModel',
    in_channels: 1,
    out_channels: 1,
    sample_size: 64,
    block_out_channels: [32, 64, 64, 96],
    down_block_types: ['DownBlock2D', 'DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
    up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'],
    layers_per_block: 1,
    attention_head_dim: 8,
    cross_attention_dim: 64,
    norm_num_groups: 8,
    norm_eps: 1e-5,
    use_linear_projection: false,
    flip_sin_to_cos: true,
    freq_shift: 0,
  },
  /** 64x64 grayscale, attention at 32x32 and 16x16 (the first default; slower than small). */
  tiny: {
    _class_name: 'UNet2DConditionModel',
    in_channels: 1,
    out_channels: 1,
    sample_size: 64,
    block_out_channels: [32, 64, 64],
    down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
    up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
    layers_per_block: 1,
    attention_head_dim: 4,
    cross_attention_dim: 64,
    norm_num_groups: 8,
    norm_eps: 1e-5,
    use_linear_projection: false,
    flip_sin_to_cos: true,
    freq_shift: 0,
  },
  /** A mid-size model for benchmarks: 128x128 grayscale, 128-256 channels, attention at 32x32 and 16x16. */
  mid: {
    _class_name: 'UNet2DConditionModel',
    in_channels: 1,
    out_channels: 1,
    sample_size: 128,
    block_out_channels: [128, 128, 256, 256],
    down_block_types: ['DownBlock2D', 'DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
    up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'],
    layers_per_block: 2,
    attention_head_dim: 8,
    cross_attention_dim: 256,
    norm_num_groups: 32,
    norm_eps: 1e-5,
    use_linear_projection: false,
    flip_sin_to_cos: true,
    freq_shift: 0,
  },
};

/** Sample sides must be multiples of this: one halving per level below the top. */
export function unetMultiple(c: UNetConfig): number {
  return 2 ** (c.block_out_channels.length - 1);
}

function need(cond: boolean, file: string, what: string): void {
  if (!cond) throw new UserError(`${file}: ${what}`);
}

/** Checks the fields every config needs before the engine sees it; the engine checks the rest. */
export function validateUNetConfig(cfg: unknown, file = 'config'): UNetConfig {
  need(typeof cfg === 'object' && cfg !== null && !Array.isArray(cfg), file, 'expected a JSON object');
  const c = cfg as Record<string, unknown>;
  const isPosInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  for (const key of [
    'in_channels',
    'out_channels',
    'sample_size',
    'layers_per_block',
    'cross_attention_dim',
    'norm_num_groups',
  ]) {
    if (c[key] !== undefined)
      need(isPosInt(c[key]), file, `"${key}" must be a positive integer, got ${JSON.stringify(c[key])}`);
  }
  need(
    Array.isArray(c.block_out_channels) && (c.block_out_channels as unknown[]).every(isPosInt),
    file,
    '"block_out_channels" must be a list of positive integers',
  );
  need(Array.isArray(c.down_block_types), file, '"down_block_types" is missing');
  need(Array.isArray(c.up_block_types), file, '"up_block_types" is missing');
  const halvings = (c.block_out_channels as unknown[]).length - 1;
  if (c.sample_size !== undefined)
    need(
      (c.sample_size as number) % 2 ** halvings === 0,
      file,
      `"sample_size" ${c.sample_size} must be a multiple of ${2 ** halvings} (the UNet halves it ${halvings} times)`,
    );
  return c as UNetConfig;
}

export function readUNetConfig(file: string): UNetConfig {
  if (PRESETS[file]) return structuredClone(PRESETS[file]);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(
      `${file}: cannot read config (${(e as NodeJS.ErrnoException).code ?? e}); presets: ${Object.keys(PRESETS).join(', ')}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return validateUNetConfig(parsed, file);
}
