/** The built-in text encoder (native) with its tokenizer: report text -> [B, L, D] context. */
import { loadAddon } from './native';
import type { NativeTextEncoder } from './native-types';

export type { NativeTextEncoder } from './native-types';
import type { TensorData } from './tensor';
import { WordTokenizer } from '../text/tokenizer';
import { engineCall } from './native-errors';

export interface TextEncoderConfig {
  vocab_size: number;
  max_length: number;
  width: number;
  layers: number;
  heads: number;
  mlp_ratio?: number;
}

export function createTextEncoder(config: TextEncoderConfig, seed = 0): NativeTextEncoder {
  const { TextEncoder } = loadAddon();
  return engineCall(() => new TextEncoder(JSON.stringify(config), seed), 'text encoder config');
}

/** Encodes report texts: returns the context [B, L, D] and the key mask [B, L] for cross-attention. */
export function encodeTexts(
  enc: NativeTextEncoder,
  tok: WordTokenizer,
  texts: string[],
  length: number,
): { context: TensorData; mask: TensorData } {
  const { ids, mask } = tok.encodeBatch(texts, length);
  const context = enc.forward({ ids, shape: [texts.length, length], mask });
  return { context, mask: { data: mask, shape: [texts.length, length] } };
}
