import type { Argv } from 'yargs';
import { plotRun } from '../../plot/metrics-plot';

export function registerPlot(y: Argv): Argv {
  return y.command(
    'plot <run>',
    "Draw a run's metrics.jsonl (pretraining or RL) as metrics.png",
    (a) =>
      a
        .positional('run', { type: 'string', demandOption: true, describe: 'run folder (holds metrics.jsonl)' })
        .option('out', { type: 'string', describe: 'PNG to write (default RUN/metrics.png)' }),
    async (args) => {
      console.log(`plot: wrote ${await plotRun(args.run!, args.out)}`);
    },
  );
}
