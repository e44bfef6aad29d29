/**
 * A safetensors writer for test inputs with float64 or int64 tensors (the engine writes float32
 * only): Float32Array -> F32, Float64Array -> F64, BigInt64Array -> I64 (what PyTorch writes for
 * integer timesteps). Written from the format's public description.
 */
import * as fs from 'fs';

export interface MixedTensor {
  data: Float32Array | Float64Array | BigInt64Array;
  shape: number[];
}

export function writeMixedSafetensors(
  file: string,
  tensors: Record<string, MixedTensor>,
  metadata: Record<string, string> = {},
): void {
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = {
      dtype: t.data instanceof Float64Array ? 'F64' : t.data instanceof BigInt64Array ? 'I64' : 'F32',
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...chunks]));
}
