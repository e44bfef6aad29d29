/** safetensors reading/writing through the engine, with errors that name the file. */
import { loadAddon, SafetensorsContents } from '../engine/native';
import type { TensorData } from '../engine/tensor';
import { engineCall } from '../engine/native-errors';
import { UserError } from '../util/errors';
import * as fs from 'fs';

export function readSafetensors(file: string): SafetensorsContents {
  if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`);
  return engineCall(() => loadAddon().readSafetensors(file));
}

/** Writes float32 tensors atomically (temporary file renamed into place). */
export function writeSafetensors(
  file: string,
  tensors: Record<string, TensorData>,
  metadata: Record<string, string> = {},
): void {
  engineCall(() => loadAddon().writeSafetensors(file, tensors, metadata));
}

/** Fetches a named tensor, or fails naming the file and the tensors it does have. */
export function requireTensor(contents: SafetensorsContents, name: string, file: string): TensorData {
  const t = contents.tensors[name];
  if (!t)
    throw new UserError(
      `${file}: no tensor named "${name}" (has: ${Object.keys(contents.tensors).join(', ') || 'none'})`,
    );
  return t;
}

/** A scalar given as a 0-d or 1-element tensor, or as a metadata attribute. */
export function readScalar(contents: SafetensorsContents, name: string, file: string, fallback?: number): number {
  const t = contents.tensors[name];
  if (t) {
    if (t.data.length !== 1)
      throw new UserError(`${file}: "${name}" must be a scalar (0-d or 1 element), got shape [${t.shape.join(',')}]`);
    return contents.exact[name]?.[0] ?? t.data[0];
  }
  const attr = contents.metadata[name];
  if (attr !== undefined) {
    const v = Number(attr);
    if (!Number.isFinite(v))
      throw new UserError(`${file}: metadata "${name}" = ${JSON.stringify(attr)} is not a number`);
    return v;
  }
  if (fallback !== undefined) return fallback;
  throw new UserError(`${file}: missing scalar "${name}" (as a tensor or a metadata attribute)`);
}
