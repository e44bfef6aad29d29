/**
 * Loads the C++ addon (built by cmake-js, or by node-gyp from binding.gyp) and types its surface.
 * Everything else in src/ goes through this facade, never through the raw module.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { NativeAddon } from './native-types';
import { UserError } from '../util/errors';
import { projectRoot } from '../util/paths';

export type * from './native-types';

/** Where the addon may be: CXRL_ADDON, then the cmake-js / node-gyp output folder. */
export function addonCandidates(): string[] {
  const list: string[] = [];
  if (process.env.CXRL_ADDON) list.push(path.resolve(process.env.CXRL_ADDON));
  list.push(path.join(projectRoot(), 'build', 'Release', 'cxrl_native.node'));
  return list;
}

let cached: NativeAddon | null = null;

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const tried: string[] = [];
  for (const file of addonCandidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (missing)`);
      continue;
    }
    // OpenBLAS reads this when the addon loads it: idle BLAS threads then stop spinning quickly
    // instead of competing with the engine's own worker pool for the cores.
    process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native addon at a path found at run time
    cached = require(file) as NativeAddon;
    return cached;
  }
  throw new UserError(
    `the native engine is not built; looked for ${tried.join(', ')}. Run the set-up command from the README (bash scripts/setup.sh) or npm run build:native.`,
  );
}

/** One line naming the engine build in use (printed in every run's header, recorded in RL metrics). */
export function engineSummary(): string {
  const i = loadAddon().info();
  const cuda = i.cuda.compiled
    ? i.cuda.usable
      ? `CUDA ${i.cuda.deviceName}`
      : 'CUDA compiled, no usable GPU'
    : 'no CUDA';
  return `engine: GEMM ${i.gemm}, conv ${i.convKernel}, ${i.threads} threads, ${cuda}`;
}
