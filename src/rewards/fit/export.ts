/** Writing a fitted model (ONNX bytes + contract, atomically) and checking onnxruntime against the engine. */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../../util/atomic';
import type { Contract } from '../contract';
import { ImageRewardModel, TextRewardModel } from '../reward-model';

export function writeModel(file: string, bytes: Uint8Array, contract: Contract): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, bytes);
  writeFileAtomic(`${file}.json`, JSON.stringify(contract, null, 2) + '\n');
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Loads the written model through its contract and returns max |onnxruntime - engine| on `images`. */
export async function verifyImageModel(
  file: string,
  images: Float32Array,
  B: number,
  S: number,
  role: string,
  engine: Float32Array,
): Promise<number> {
  const m = await ImageRewardModel.open(file);
  const out = await m.run(images, B, S);
  return maxAbsDiff(out[role].data, engine);
}

export async function verifyTextModel(file: string, texts: string[], engine: Float32Array): Promise<number> {
  const m = await TextRewardModel.open(file);
  return maxAbsDiff((await m.embed(texts)).data, engine);
}
