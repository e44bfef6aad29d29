/**
 * One thread budget for every library that runs its own pool: the engine's (CXRL_NUM_THREADS,
 * else all cores; OpenBLAS follows it, native/core/gemm.cc). ONNX Runtime's intra-op pool and
 * libvips (sharp) get the same count, set explicitly rather than left to each library's default:
 * the phases take turns (the engine waits while the reward models run), so no phase oversubscribes.
 */
import sharp from 'sharp';
import { loadAddon } from './native';

export function threadBudget(): number {
  return loadAddon().info().threads;
}

let sharpConfigured = false;

/** Call before image work: libvips' pool gets the budget (once per process). */
export function configureSharpThreads(): void {
  if (sharpConfigured) return;
  sharp.concurrency(threadBudget());
  sharpConfigured = true;
}
