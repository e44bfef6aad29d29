/**
 * Frozen reward models on ONNX Runtime, fed and read through their contracts. Image models take
 * the generator's images ([-1, 1], square, one channel) and convert them to the model's input:
 * resampled to its size (shorter side + centre crop, or a stretch), replicated to its channels,
 * mapped to its value range and normalised. Text models take report text through the contract's
 * tokenizer. Inputs are scored in batches.
 */
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { loadAddon } from '../engine/native';
import { concatFloat32 } from '../engine/tensor';
import { floatData, idTensor, inputInfo, openSession, OrtDevice, outputInfo } from '../onnx/runtime';
import { ClipTokenizer } from '../text/clip-tokenizer';
import { WordTokenizer } from '../text/tokenizer';
import { UserError } from '../util/errors';
import { checkAgainstModel, Contract, ImageInput, readContract } from './contract';

const BATCH = 32;

/** Generator images [B, S*S] in [-1, 1] -> the model's input tensor data [B, C, h, w]. */
export function toModelInput(images: Float32Array, B: number, S: number, inp: ImageInput): Float32Array {
  const [h, w] = inp.size;
  let px = images;
  if (h !== S || w !== S) {
    const m = Math.max(h, w);
    const sx = inp.resize === 'stretch' ? 1 : w / m,
      sy = inp.resize === 'stretch' ? 1 : h / m;
    const params = new Float32Array(5 * B);
    for (let b = 0; b < B; b++) params.set([sx, sy, 0, 0, 0], 5 * b);
    px = loadAddon().affineWarp({
      images,
      batch: B,
      channels: 1,
      height: S,
      width: S,
      outHeight: h,
      outWidth: w,
      params,
      fill: -1,
    });
  }
  const C = inp.channels,
    n = h * w,
    [lo, hi] = inp.range;
  const out = new Float32Array(B * C * n);
  for (let c = 0; c < C; c++) {
    const mean = inp.mean?.[c] ?? 0,
      std = inp.std?.[c] ?? 1;
    // v in [-1, 1] -> lo + (v + 1) / 2 * (hi - lo), then (x - mean) / std
    const a = (hi - lo) / 2 / std,
      b0 = (lo + (hi - lo) / 2 - mean) / std;
    for (let b = 0; b < B; b++) {
      const src = b * n,
        dst = (b * C + c) * n;
      for (let i = 0; i < n; i++) out[dst + i] = px[src + i] * a + b0;
    }
  }
  return out;
}

/** The contract of FILE, the session on it, and the check of one against the other. */
async function openContracted(file: string, device: OrtDevice, want: 'image' | 'text') {
  const contract = readContract(file);
  if (!(want === 'image' ? contract.input : contract.text))
    throw new UserError(
      `${file}.json: a ${contract.kind} model is not a${want === 'image' ? 'n image' : ' text'} model`,
    );
  const { session, provider } = await openSession(file, device);
  const inputs = inputInfo(session);
  checkAgainstModel(contract, inputs, outputInfo(session), `${file}.json`);
  return { contract, session, provider, inputs };
}

export class ImageRewardModel {
  private constructor(
    readonly file: string,
    readonly contract: Contract,
    readonly session: ort.InferenceSession,
    readonly provider: string,
  ) {}

  static async open(file: string, device: OrtDevice = 'cpu'): Promise<ImageRewardModel> {
    const { contract, session, provider } = await openContracted(file, device, 'image');
    return new ImageRewardModel(file, contract, session, provider);
  }

  /** Runs the model on generator images [B, S*S]; returns each contract output role as [B, width] rows. */
  async run(
    images: Float32Array,
    B: number,
    S: number,
  ): Promise<Record<string, { data: Float32Array; width: number }>> {
    const inp = this.contract.input!;
    const per = S * S,
      parts: Record<string, Float32Array[]> = {};
    const widths: Record<string, number> = {};
    for (let s = 0; s < B; s += BATCH) {
      const n = Math.min(BATCH, B - s);
      const x = toModelInput(images.subarray(s * per, (s + n) * per), n, S, inp);
      const res = await this.session.run({
        [inp.name]: new ort.Tensor('float32', x, [n, inp.channels, inp.size[0], inp.size[1]]),
      });
      for (const [role, name] of Object.entries(this.contract.outputs)) {
        const t = res[name];
        const dims = t.dims as number[];
        if (dims[0] !== n) throw new UserError(`${this.file}: output "${name}" has batch ${dims[0]}, expected ${n}`);
        widths[role] = dims.slice(1).reduce((a, b) => a * b, 1);
        (parts[role] ??= []).push(floatData(t, `${this.file}: ${name}`).slice());
      }
    }
    return Object.fromEntries(
      Object.entries(parts).map(([role, list]) => [role, { data: concatFloat32(list), width: widths[role] }]),
    );
  }
}

export class TextRewardModel {
  private constructor(
    readonly file: string,
    readonly contract: Contract,
    readonly session: ort.InferenceSession,
    private readonly encodeIds: (texts: string[]) => { ids: Int32Array; mask: Float32Array },
    private readonly types: Record<string, string>,
  ) {}

  static async open(file: string, device: OrtDevice = 'cpu'): Promise<TextRewardModel> {
    const { contract, session, inputs } = await openContracted(file, device, 'text');
    const t = contract.text!;
    const tokPath = path.resolve(path.dirname(file), t.tokenizer_path);
    let encodeIds: (texts: string[]) => { ids: Int32Array; mask: Float32Array };
    if (t.tokenizer === 'clip') {
      const tok = ClipTokenizer.load(tokPath);
      encodeIds = (texts) => tok.encodeBatch(texts, t.length);
    } else {
      const tok = WordTokenizer.load(tokPath);
      encodeIds = (texts) => tok.encodeBatch(texts, t.length);
    }
    const types = Object.fromEntries(inputs.map((i) => [i.name, i.type ?? 'int64']));
    return new TextRewardModel(file, contract, session, encodeIds, types);
  }

  /** Report texts -> embeddings [B, width]. */
  async embed(texts: string[]): Promise<{ data: Float32Array; width: number }> {
    const t = this.contract.text!;
    const chunks: Float32Array[] = [];
    let width = 0;
    for (let s = 0; s < texts.length; s += BATCH) {
      const part = texts.slice(s, s + BATCH);
      const { ids, mask } = this.encodeIds(part);
      const feeds: Record<string, ort.Tensor> = {
        [t.ids_input]: idTensor(ids, [part.length, t.length], this.types[t.ids_input]),
      };
      if (t.mask_input)
        feeds[t.mask_input] = idTensor(Int32Array.from(mask), [part.length, t.length], this.types[t.mask_input]);
      const out = (await this.session.run(feeds))[this.contract.outputs.embedding];
      width = (out.dims as number[]).slice(1).reduce((a, b) => a * b, 1);
      chunks.push(floatData(out, `${this.file}: embedding`).slice());
    }
    return { data: concatFloat32(chunks), width };
  }
}
