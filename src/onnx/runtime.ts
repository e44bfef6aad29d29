/**
 * ONNX Runtime sessions for the frozen networks (reward models, feature extractors, text
 * encoders). The CPU execution provider always works; the CUDA provider needs ONNX Runtime's CUDA
 * provider libraries (libonnxruntime_providers_cuda.so and _shared.so, CUDA 12 + cuDNN 9 builds),
 * which onnxruntime-node does not bundle. `--device cuda|auto` tries it and falls back to the CPU
 * with one message naming the reason.
 */
import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import type { DeviceChoice } from '../engine/device';
import { threadBudget } from '../engine/thread-budget';
import { UserError } from '../util/errors';

/** The same --device choice as the engine's (src/engine/device.ts). */
export type OrtDevice = DeviceChoice;

export interface OpenSession {
  session: ort.InferenceSession;
  provider: 'cpu' | 'cuda';
  file: string;
}

/** Set once the CUDA provider failed to load: later sessions go straight to the CPU. */
let cudaUnavailable = false;

export async function openSession(file: string, device: OrtDevice = 'cpu'): Promise<OpenSession> {
  if (!fs.existsSync(file)) throw new UserError(`${file}: no such ONNX file`);
  if (device !== 'cpu' && !cudaUnavailable) {
    try {
      // ONNX Runtime would log the missing library itself (in colour, per attempt); the reason is
      // reported once below instead. The level applies from the first session on.
      ort.env.logLevel = 'fatal';
      return {
        session: await ort.InferenceSession.create(file, { executionProviders: ['cuda'], logSeverityLevel: 4 }),
        provider: 'cuda',
        file,
      };
    } catch (e) {
      cudaUnavailable = true;
      const why = ((e as Error).message || String(e)).split('\n')[0];
      console.error(`onnxruntime: CUDA execution provider not available (${why}); using the CPU provider`);
    }
  }
  try {
    const session = await ort.InferenceSession.create(file, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threadBudget(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    return { session, provider: 'cpu', file };
  } catch (e) {
    throw new UserError(`${file}: ONNX Runtime cannot load it (${((e as Error).message || String(e)).split('\n')[0]})`);
  }
}

export interface TensorInfo {
  name: string;
  type?: string;
  /** numbers for fixed sizes, strings for symbolic dimensions */
  shape?: (number | string)[];
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name }));
}

export function inputInfo(s: ort.InferenceSession): TensorInfo[] {
  return describe(s.inputMetadata);
}

export function outputInfo(s: ort.InferenceSession): TensorInfo[] {
  return describe(s.outputMetadata);
}

/** An integer-id tensor in the type the model declares (int64 or int32). */
export function idTensor(ids: Int32Array, shape: number[], type = 'int64'): ort.Tensor {
  if (type === 'int32') return new ort.Tensor('int32', ids, shape);
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(ids, (v) => BigInt(v)),
    shape,
  );
}

export function floatData(t: ort.Tensor, what: string): Float32Array {
  if (t.type !== 'float32') throw new UserError(`${what}: expected a float32 output, got ${t.type}`);
  return t.data as Float32Array;
}
