/**
 * A frozen text encoder exported to ONNX (for example the CLIP text model of a Stable-Diffusion-
 * class pipeline) with its CLIP tokenizer: prompts -> [B, L, D] token embeddings for the UNet's
 * cross-attention. CLIP as used by Stable Diffusion attends over the whole padded sequence, so the
 * cross-attention mask is all ones unless the model takes an attention_mask input.
 */
import * as ort from 'onnxruntime-node';
import type { Conditioning } from '../engine/guidance';
import { floatData, idTensor, inputInfo, openSession, OrtDevice, outputInfo } from '../onnx/runtime';
import { ClipTokenizer } from '../text/clip-tokenizer';
import { UserError } from '../util/errors';

export class OnnxTextEncoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly tokenizer: ClipTokenizer,
    private readonly idsInput: { name: string; type: string },
    private readonly maskInput: { name: string; type: string } | null,
    private readonly output: string,
    readonly file: string,
  ) {}

  static async open(file: string, tokenizerDir: string, device: OrtDevice = 'cpu'): Promise<OnnxTextEncoder> {
    const tokenizer = ClipTokenizer.load(tokenizerDir);
    const { session } = await openSession(file, device);
    const inputs = inputInfo(session);
    const ids = inputs.find((i) => i.name === 'input_ids') ?? (inputs.length === 1 ? inputs[0] : undefined);
    if (!ids)
      throw new UserError(
        `${file}: expected an "input_ids" input; the model has ${inputs.map((i) => i.name).join(', ')}`,
      );
    if (ids.type && ids.type !== 'int64' && ids.type !== 'int32')
      throw new UserError(`${file}: input "${ids.name}" is ${ids.type}; token ids must be int64 or int32`);
    const mask = inputs.find((i) => i.name === 'attention_mask');
    const other = inputs.filter((i) => i !== ids && i !== mask);
    if (other.length)
      throw new UserError(
        `${file}: unexpected inputs ${other.map((i) => i.name).join(', ')} (a text encoder takes input_ids and optionally attention_mask)`,
      );
    const outputs = outputInfo(session);
    const out = outputs.find((o) => o.name === 'last_hidden_state') ?? outputs[0];
    if (out.shape && out.shape.length !== 3)
      throw new UserError(`${file}: output "${out.name}" must be [batch, tokens, width], got rank ${out.shape.length}`);
    return new OnnxTextEncoder(
      session,
      tokenizer,
      { name: ids.name, type: ids.type ?? 'int64' },
      mask ? { name: mask.name, type: mask.type ?? 'int64' } : null,
      out.name,
      file,
    );
  }

  async encode(prompts: string[]): Promise<Conditioning> {
    const L = this.tokenizer.maxLength,
      B = prompts.length;
    const { ids, mask } = this.tokenizer.encodeBatch(prompts, L);
    const feeds: Record<string, ort.Tensor> = { [this.idsInput.name]: idTensor(ids, [B, L], this.idsInput.type) };
    if (this.maskInput) feeds[this.maskInput.name] = idTensor(Int32Array.from(mask), [B, L], this.maskInput.type);
    const out = (await this.session.run(feeds))[this.output];
    const dims = out.dims as number[];
    if (dims.length !== 3 || dims[0] !== B || dims[1] !== L)
      throw new UserError(`${this.file}: output ${this.output} has shape [${dims}], expected [${B}, ${L}, D]`);
    return {
      context: { data: floatData(out, `${this.file}: ${this.output}`), shape: dims },
      mask: { data: this.maskInput ? mask : new Float32Array(B * L).fill(1), shape: [B, L] },
    };
  }
}
