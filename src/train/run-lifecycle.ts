/**
 * What every training run (pretraining, RL) does the same way around its loop: stop at the next
 * safe boundary on SIGINT or SIGTERM (a second signal quits at once), exit with the usual codes,
 * keep metrics.jsonl consistent with the checkpoint on --resume, remove the temporary checkpoint
 * folders a killed run left, and refuse a resume whose settings changed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../util/errors';

/** SIGINT/SIGTERM handling for one run: the first signal asks the loop to stop and save. */
export class StopSignals {
  private signal: NodeJS.Signals | null = null;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    if (this.signal) process.exit(exitCodeOf(sig));
    this.signal = sig;
    console.error(
      `\n${sig}: saving a checkpoint at the end of this ${this.boundary} (send it again to quit without saving)`,
    );
  };

  constructor(private readonly boundary: string) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  get requested(): boolean {
    return this.signal !== null;
  }

  /** Removes the handlers; sets the exit code of a process ended by the signal (128 + 2 or 128 + 15). */
  finish(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    if (this.signal) process.exitCode = exitCodeOf(this.signal);
  }
}

function exitCodeOf(sig: NodeJS.Signals): number {
  return sig === 'SIGTERM' ? 143 : 130;
}

/** A metrics.jsonl line as written and as parsed. */
export interface MetricsLine {
  text: string;
  value: Record<string, unknown>;
}

/** The lines of a metrics.jsonl that parse (a line cut by a kill is left out); none if there is no file. */
export function readMetricsLines(file: string): MetricsLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((text) => {
      if (!text.trim()) return [];
      try {
        return [{ text, value: JSON.parse(text) as Record<string, unknown> }];
      } catch {
        return [];
      }
    });
}

/** Keeps only the metrics.jsonl lines `keep` accepts (a resumed run rewrites the rest). */
export function truncateMetrics(file: string, keep: (line: Record<string, unknown>) => boolean): void {
  if (!fs.existsSync(file)) return;
  const lines = readMetricsLines(file).filter((l) => keep(l.value));
  fs.writeFileSync(file, lines.map((l) => l.text + '\n').join(''));
}

/** Removes `.checkpoint.tmp-*` / `.checkpoint.old-*` folders a killed run left in its run folder. */
export function removeStaleCheckpointTemps(runDir: string): void {
  if (!fs.existsSync(runDir)) return;
  for (const name of fs.readdirSync(runDir))
    if (/^\.checkpoint\.(tmp|old)-\d+$/.test(name))
      fs.rmSync(path.join(runDir, name), { recursive: true, force: true });
}

/**
 * A new (not resumed) run may not use a folder holding an earlier run: its checkpoint would be
 * replaced, or its metrics.jsonl appended to.
 */
export function checkFreshRunFolder(runDir: string): void {
  const metrics = path.join(runDir, 'metrics.jsonl');
  if (fs.existsSync(path.join(runDir, 'checkpoint')) || (fs.existsSync(metrics) && fs.statSync(metrics).size > 0))
    throw new UserError(
      `${runDir} already holds a run: add --resume to continue it, or choose another --out (nothing was overwritten)`,
    );
}

/** The settings that differ between a checkpoint and this invocation, except `safe` ones. */
export function settingsDiff<T extends object>(
  saved: Partial<T>,
  now: T,
  safe: readonly (keyof T)[],
  defaults: Partial<T> = {},
): string[] {
  const diffs: string[] = [];
  for (const k of Object.keys(now) as (keyof T)[]) {
    if (safe.includes(k)) continue;
    // A setting newer than the checkpoint had its default there.
    const was = saved[k] === undefined ? defaults[k] : saved[k];
    const a = JSON.stringify(was),
      b = JSON.stringify(now[k]);
    if (a !== b) diffs.push(`${String(k)}: ${a} in the checkpoint, ${b} now`);
  }
  return diffs;
}

/** Refuses a --resume whose settings changed, listing every difference. */
export function refuseChangedSettings(diffs: string[], safeFlags: readonly string[]): void {
  if (diffs.length)
    throw new UserError(
      `--resume with changed settings (only ${safeFlags.join(', ')} may change): ${diffs.join('; ')}`,
    );
}
