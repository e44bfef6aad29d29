/**
 * Word-level tokenizer for the built-in text encoder, built from the training reports and stored
 * with the checkpoint. Text is lower-cased and split into words, numbers and single punctuation
 * marks; ids 0-3 are [PAD], [UNK], [BOS], [EOS]. Sequences are [BOS] tokens [EOS], truncated to
 * the fixed length (keeping [EOS]) and padded; the mask marks real tokens. The empty prompt,
 * [BOS][EOS], gives the unconditional embedding for classifier-free guidance.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../util/atomic';
import { UserError } from '../util/errors';

export const PAD = 0,
  UNK = 1,
  BOS = 2,
  EOS = 3;
const SPECIALS = ['[PAD]', '[UNK]', '[BOS]', '[EOS]'];
const FORMAT = 'cxrl-word-tokenizer';

export function splitWords(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+(?:'[a-z]+)?|\d+(?:\.\d+)?|[^\s\w]/g) ?? [];
}

export interface Encoded {
  ids: Int32Array;
  mask: Float32Array;
}

export class WordTokenizer {
  private readonly index: Map<string, number>;

  constructor(readonly vocab: string[]) {
    if (vocab.slice(0, 4).join() !== SPECIALS.join())
      throw new UserError('tokenizer: the first four entries must be [PAD], [UNK], [BOS], [EOS]');
    this.index = new Map(vocab.map((w, i) => [w, i]));
  }

  /** Words seen at least minCount times, most frequent first (ties alphabetical), at most maxSize in all. */
  static build(texts: Iterable<string>, o: { minCount?: number; maxSize?: number } = {}): WordTokenizer {
    const counts = new Map<string, number>();
    for (const t of texts) for (const w of splitWords(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
    const words = [...counts.entries()]
      .filter(([, c]) => c >= (o.minCount ?? 2))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([w]) => w)
      .slice(0, (o.maxSize ?? 8192) - SPECIALS.length);
    return new WordTokenizer([...SPECIALS, ...words]);
  }

  get size(): number {
    return this.vocab.length;
  }

  /** Tokens of a text with [BOS] and [EOS], before truncation. */
  tokenCount(text: string): number {
    return splitWords(text).length + 2;
  }

  encode(text: string, length: number): Encoded {
    if (length < 2) throw new UserError('tokenizer: length must be at least 2');
    const body = splitWords(text)
      .map((w) => this.index.get(w) ?? UNK)
      .slice(0, length - 2);
    const ids = new Int32Array(length).fill(PAD);
    const mask = new Float32Array(length);
    const seq = [BOS, ...body, EOS];
    seq.forEach((id, i) => {
      ids[i] = id;
      mask[i] = 1;
    });
    return { ids, mask };
  }

  /** Encodes a batch: ids and mask of shape [B, length]. */
  encodeBatch(texts: string[], length: number): Encoded {
    const ids = new Int32Array(texts.length * length),
      mask = new Float32Array(texts.length * length);
    texts.forEach((t, b) => {
      const e = this.encode(t, length);
      ids.set(e.ids, b * length);
      mask.set(e.mask, b * length);
    });
    return { ids, mask };
  }

  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === PAD || ids[i] === BOS) continue;
      if (ids[i] === EOS) break;
      out.push(this.vocab[ids[i]] ?? '[UNK]');
    }
    return out.join(' ');
  }

  toJSON(): object {
    return { format: FORMAT, version: 1, lowercase: true, vocab: this.vocab };
  }

  save(file: string): void {
    writeFileAtomic(file, JSON.stringify(this.toJSON()) + '\n');
  }

  static load(file: string): WordTokenizer {
    let j: { format?: string; vocab?: unknown };
    try {
      j = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new UserError(`${file}: cannot read tokenizer (${(e as Error).message})`);
    }
    if (j.format !== FORMAT || !Array.isArray(j.vocab) || !j.vocab.every((w) => typeof w === 'string')) {
      throw new UserError(`${file}: not a ${FORMAT} file`);
    }
    return new WordTokenizer(j.vocab as string[]);
  }
}
