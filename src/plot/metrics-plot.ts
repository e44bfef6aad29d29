/**
 * metrics.png of a run folder: the curves of its metrics.jsonl (pretraining: loss, gradient norm,
 * learning rate; RL: rewards per epoch, policy vs anchor on the held-out reports, PPO statistics),
 * drawn as SVG and rendered by sharp. Runs write it at every checkpoint; `cxrl-native plot RUN`
 * redraws it.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { UserError } from '../util/errors';
import { chartSvg, Panel, Series } from './svg-chart';
import { readMetricsLines } from '../train/run-lifecycle';

type Line = Record<string, unknown>;

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function readLines(file: string): Line[] {
  if (!fs.existsSync(file)) throw new UserError(`${file}: no such file (is this a run folder?)`);
  return readMetricsLines(file).map((l) => l.value);
}

const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
const at = (o: unknown, ...keys: string[]) =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Line)[k] : undefined), o);

function series(name: string, lines: Line[], x: string, y: (l: Line) => number, k: number, dashed = false): Series {
  return { name, color: COLORS[k % COLORS.length], dashed, points: lines.map((l) => [num(l[x]), y(l)]) };
}

/** The panels of a run's metrics: RL runs have `epoch` lines, pretraining runs `step` lines with a loss. */
export function metricsPanels(lines: Line[]): Panel[] {
  const epochs = lines.filter((l) => l.kind === 'epoch');
  const evals = lines.filter((l) => l.kind === 'eval');
  if (epochs.length || evals.length) {
    const components = ['total', 'align', 'diag', 'cons'];
    const panels: Panel[] = [
      {
        title: 'RL reward (comparative, per epoch)',
        xLabel: 'epoch',
        series: components.map((c, k) => series(c, epochs, 'epoch', (l) => num(at(l, 'reward', c)), k)),
      },
      {
        title: 'PPO: approx KL and clip fraction',
        xLabel: 'epoch',
        series: [
          series('approx_kl x 1e4', epochs, 'epoch', (l) => num(l.approx_kl) * 1e4, 0),
          series('clipfrac', epochs, 'epoch', (l) => num(l.clipfrac), 1),
          series('grad norm', epochs, 'epoch', (l) => num(l.grad_norm), 2),
        ],
      },
    ];
    if (evals.length)
      panels.push({
        title: 'held-out: policy - anchor (mean difference)',
        xLabel: 'epoch',
        series: ['total', 'r_align', 's_diag', 's_cons'].map((c, k) =>
          series(c, evals, 'epoch', (l) => num(at(l, 'components', c, 'diff')), k),
        ),
      });
    return panels;
  }
  const steps = lines.filter((l) => typeof l.step === 'number' && typeof l.loss === 'number');
  return [
    {
      title: 'pretraining loss (MSE)',
      xLabel: 'step',
      logY: true,
      series: [series('loss', steps, 'step', (l) => num(l.loss), 0)],
    },
    {
      title: 'gradient norm and learning rate',
      xLabel: 'step',
      logY: true,
      series: [
        series('grad norm', steps, 'step', (l) => num(l.gradNorm), 1),
        series('lr x 1e3', steps, 'step', (l) => num(l.lr) * 1e3, 2),
      ],
    },
  ];
}

/** plotRun for a run in progress: a failure to draw is reported, never fatal to the run. */
export async function refreshMetricsPlot(runDir: string): Promise<void> {
  try {
    await plotRun(runDir);
  } catch (e) {
    console.error(`note: metrics.png not updated (${(e as Error).message})`);
  }
}

/** Draws RUN/metrics.jsonl into `out` (default RUN/metrics.png), atomically; returns the file. */
export async function plotRun(runDir: string, out = path.join(runDir, 'metrics.png')): Promise<string> {
  const { svg } = chartSvg(metricsPanels(readLines(path.join(runDir, 'metrics.jsonl'))));
  const tmp = `${out}.tmp-${process.pid}.png`;
  await sharp(Buffer.from(svg)).png().toFile(tmp);
  fs.renameSync(tmp, out);
  return out;
}
