import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import type { TensorData } from '../src/engine/tensor';

export const ROOT = path.resolve(__dirname, '..');
export const PYTHON = '/usr/bin/python3';

const created: string[] = [];

/** A fresh folder in the system temp folder; removed after the test file (test/cleanup.ts). */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cxrl-${prefix}-`));
  created.push(dir);
  return dir;
}

/** Removes every folder tmpDir made in this test file (CXRL_KEEP_TEST_DIRS=1 keeps them for a look). */
export function removeTmpDirs(): void {
  if (process.env.CXRL_KEEP_TEST_DIRS === '1') return;
  for (const d of created.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Runs the CLI as a user would; returns its exit status and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'cxrl-native'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every line of a run's metrics.jsonl, parsed, in order. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- metrics lines are free-form JSON
export function readMetrics(run: string): Record<string, any>[] {
  return fs
    .readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

export function runPython(script: string, args: string[]) {
  const r = spawnSync(PYTHON, [path.join(ROOT, 'test', 'reference', script), ...args], {
    encoding: 'utf8',
    cwd: path.join(ROOT, 'test', 'reference'),
    env: { ...process.env, OMP_NUM_THREADS: '2' },
  });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Normwise relative error: max |a - b| over max |b| (elementwise ratios are meaningless near 0). */
export function relError(a: TensorData, b: TensorData): { maxAbs: number; rel: number } {
  if (a.shape.join(',') !== b.shape.join(',')) throw new Error(`shape [${a.shape}] vs [${b.shape}]`);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < a.data.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a.data[i] - b.data[i]));
    maxRef = Math.max(maxRef, Math.abs(b.data[i]));
  }
  return { maxAbs, rel: maxRef > 0 ? maxAbs / maxRef : maxAbs };
}

/** Largest |a - b| over the largest |b| (for flat arrays; elementwise ratios are meaningless near 0). */
export function normRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0,
    m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m > 0 ? d / m : d;
}
