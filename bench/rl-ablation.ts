/**
 * The reward and component ablation of the RL stage, shaped like the paper's Table 2: the same short
 * schedule for full CXRL, --no-ace, --rlcf direct (w/o RLCF) and each reward alone, then a table of
 * the final held-out policy-vs-anchor comparison of every run.
 *
 *   node dist/bench/rl-ablation.js --init runs/pretrain/checkpoint --out runs/ablation [--only full,no-ace] [-- extra train flags]
 *
 * Not part of CI: each variant is a full `train --stage rl` run (about as long as the README's).
 * Finished variants are skipped, so an interrupted ablation continues where it stopped.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readMetricsLines } from '../src/train/run-lifecycle';

const VARIANTS: { name: string; label: string; flags: string[] }[] = [
  { name: 'full', label: 'CXRL (all rewards, ACE, RLCF)', flags: [] },
  { name: 'no-ace', label: 'w/o ACE', flags: ['--no-ace'] },
  { name: 'no-rlcf', label: 'w/o RLCF (--rlcf direct)', flags: ['--rlcf', 'direct'] },
  { name: 'align-only', label: '+ r_align only', flags: ['--reward-weights', 'align=1,diag=0,cons=0'] },
  { name: 'diag-only', label: '+ r_diag only', flags: ['--reward-weights', 'align=0,diag=1,cons=0'] },
  { name: 'cons-only', label: '+ r_cons only', flags: ['--reward-weights', 'align=0,diag=0,cons=1'] },
];

interface Paired {
  policy: number;
  anchor: number;
  diff: number;
  se: number;
  t: number;
  n: number;
}
type EvalLine = { kind: string; epoch: number; reports: number; components: Record<string, Paired | null> };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function lastEval(run: string): EvalLine | null {
  const evals = readMetricsLines(path.join(run, 'metrics.jsonl'))
    .map((l) => l.value as EvalLine)
    .filter((m) => m.kind === 'eval');
  return evals.length ? evals[evals.length - 1] : null;
}

function cell(c: Paired | null | undefined): string {
  return c
    ? `${c.policy.toFixed(3)} (${c.diff >= 0 ? '+' : ''}${c.diff.toFixed(3)} ± ${c.se.toFixed(3)}, t ${c.t.toFixed(1)})`
    : 'n/a';
}

function main(): void {
  const init = arg('--init'),
    out = arg('--out') ?? 'runs/ablation';
  if (!init) throw new Error('usage: rl-ablation --init CHECKPOINT [--out DIR] [--only a,b] [-- extra train flags]');
  const only = arg('--only')?.split(',');
  const dash = process.argv.indexOf('--');
  const extra = dash >= 0 ? process.argv.slice(dash + 1) : [];
  const bin = path.join(__dirname, '..', '..', 'bin', 'cxrl-native');
  const rows: string[] = [];
  for (const v of VARIANTS.filter((x) => !only || only.includes(x.name))) {
    const run = path.join(out, v.name);
    const done = fs.existsSync(path.join(run, 'checkpoint'));
    const t0 = Date.now();
    const args = [
      'train',
      '--stage',
      'rl',
      '--init',
      init,
      '--out',
      run,
      ...(done ? ['--resume'] : []),
      ...v.flags,
      ...extra,
    ];
    console.error(`\n== ${v.name}: cxrl-native ${args.join(' ')}`);
    const r = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${v.name} exited ${r.status}`);
    const e = lastEval(run);
    if (!e) throw new Error(`${run}: no held-out evaluation in metrics.jsonl`);
    const minutes = ((Date.now() - t0) / 60000).toFixed(1);
    rows.push(
      `| ${v.label} | ${cell(e.components.r_align)} | ${cell(e.components.s_diag)} | ${cell(e.components.s_cons)} | ${cell(e.components.total)} | ${e.epoch} | ${minutes} |`,
    );
  }
  const table = [
    '| variant | r_align | s_diag | s_cons | total (weighted) | epochs | minutes |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  const note =
    "Each cell: the policy's held-out mean (its paired difference from the anchor ± standard error, t). " +
    'Held-out reports of the validate split, same noise for policy and anchor; higher is better for every column. ' +
    "The total uses each run's own reward weights.";
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'ablation.md'), `${table}\n\n${note}\n`);
  console.log(`${table}\n\n${note}`);
}

main();
