/**
 * CLIP's byte-level BPE tokenizer, read from the `vocab.json` + `merges.txt` files that ship with
 * Stable-Diffusion-class text encoders (the Hugging Face `tokenizer/` folder). Follows the
 * published algorithm: whitespace collapsed, lower-cased, split by CLIP's regular expression, each
 * piece's UTF-8 bytes mapped to printable characters, "</w>" marking the end of a word, then the
 * merges applied lowest rank first. Sequences are [BOS] tokens [EOS], truncated to max_length and
 * padded with the pad token.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJson } from '../train/checkpoint';
import { UserError } from '../util/errors';

const SPLIT = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** GPT-2's reversible byte -> printable-character table. */
function byteToChar(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return table;
}

export interface ClipTokenizerOptions {
  maxLength?: number;
  bos?: string;
  eos?: string;
  pad?: string;
}

export class ClipTokenizer {
  private readonly bytes = byteToChar();
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;

  constructor(
    private readonly vocab: Map<string, number>,
    merges: [string, string][],
    o: ClipTokenizerOptions = {},
    private readonly source = 'tokenizer',
  ) {
    merges.forEach(([a, b], i) => this.ranks.set(`${a} ${b}`, i));
    this.maxLength = o.maxLength ?? 77;
    const id = (tok: string) => {
      const v = vocab.get(tok);
      if (v === undefined) throw new UserError(`${source}: the vocabulary has no special token ${tok}`);
      return v;
    };
    this.bosId = id(o.bos ?? '<|startoftext|>');
    this.eosId = id(o.eos ?? '<|endoftext|>');
    this.padId = id(o.pad ?? o.eos ?? '<|endoftext|>');
  }

  /** Reads DIR/vocab.json, DIR/merges.txt and, when present, tokenizer_config.json / special_tokens_map.json. */
  static load(dir: string): ClipTokenizer {
    const read = (f: string) => {
      const file = path.join(dir, f);
      if (!fs.existsSync(file))
        throw new UserError(`${file}: missing (a CLIP tokenizer folder needs vocab.json and merges.txt)`);
      return fs.readFileSync(file, 'utf8');
    };
    let vocabJson: Record<string, number>;
    try {
      vocabJson = JSON.parse(read('vocab.json'));
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${path.join(dir, 'vocab.json')}: not valid JSON (${(e as Error).message})`);
    }
    const merges = read('merges.txt')
      .split('\n')
      .filter((l) => l && !l.startsWith('#version'))
      .map((l, i) => {
        const parts = l.trim().split(' ');
        if (parts.length !== 2) throw new UserError(`${path.join(dir, 'merges.txt')}: line ${i + 1} is not "a b"`);
        return parts as [string, string];
      });
    // tokenizer_config.json (then special_tokens_map.json) may name the special tokens, as strings
    // or {content}, and the model's maximum length.
    const configs = ['tokenizer_config.json', 'special_tokens_map.json']
      .map((f) => path.join(dir, f))
      .filter((f) => fs.existsSync(f))
      .map((f) => readJson<Record<string, unknown>>(f));
    const special = (name: string) => {
      for (const c of configs) {
        const v = c[name];
        if (typeof v === 'string') return v;
        if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
          return (v as { content: string }).content;
      }
      return undefined;
    };
    const maxLen = configs.map((c) => c.model_max_length).find((v) => v !== undefined);
    return new ClipTokenizer(
      new Map(Object.entries(vocabJson)),
      merges,
      {
        maxLength: typeof maxLen === 'number' && maxLen > 0 && maxLen < 1e6 ? maxLen : 77,
        bos: special('bos_token'),
        eos: special('eos_token'),
        pad: special('pad_token'),
      },
      dir,
    );
  }

  /** BPE of one pre-tokenized piece (already byte-mapped); returns vocabulary strings. */
  private bpe(piece: string): string[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    const word = [...piece];
    word[word.length - 1] += '</w>';
    for (;;) {
      let best = -1,
        bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      // Merge every occurrence of the best pair, left to right.
      const a = word[best],
        b = word[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(word[i]);
      }
      word.splice(0, word.length, ...merged);
    }
    this.cache.set(piece, word);
    return word;
  }

  /** Token ids of a text without BOS/EOS (a token missing from vocab.json is an error). */
  tokenize(text: string): number[] {
    const clean = text.replace(/\s+/g, ' ').trim().toLowerCase();
    const ids: number[] = [];
    for (const m of clean.matchAll(SPLIT)) {
      const piece = [...Buffer.from(m[0], 'utf8')].map((b) => this.bytes[b]).join('');
      for (const t of this.bpe(piece)) {
        const id = this.vocab.get(t);
        if (id === undefined) throw new UserError(`${this.source}: token "${t}" is not in vocab.json`);
        ids.push(id);
      }
    }
    return ids;
  }

  /** Tokens of a text with BOS and EOS, before truncation. */
  tokenCount(text: string): number {
    return this.tokenize(text).length + 2;
  }

  /** [B, maxLength] ids (BOS, tokens, EOS, padding) and the attention mask (1 up to and including EOS). */
  encodeBatch(texts: string[], length = this.maxLength): { ids: Int32Array; mask: Float32Array } {
    const ids = new Int32Array(texts.length * length).fill(this.padId);
    const mask = new Float32Array(texts.length * length);
    texts.forEach((t, b) => {
      const body = this.tokenize(t).slice(0, length - 2);
      const seq = [this.bosId, ...body, this.eosId];
      ids.set(seq, b * length);
      mask.fill(1, b * length, b * length + seq.length);
    });
    return { ids, mask };
  }
}
