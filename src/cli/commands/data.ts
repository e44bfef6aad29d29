import type { Argv } from 'yargs';
import { formatInspectReport, inspectDataset } from '../../data/inspect';
import { synthesizeDataset } from '../../data/synth';
import { Progress } from '../../util/progress';
import { UserError } from '../../util/errors';
import { checkNumbers, NON_NEGATIVE_INTEGER } from '../../util/numeric-options';

export function registerData(y: Argv): Argv {
  return y.command(
    'data <action>',
    'Synthesise a MIMIC-CXR-JPG-layout dataset, or inspect a dataset root',
    (a) =>
      a
        .positional('action', {
          choices: ['synth', 'inspect'] as const,
          describe: 'synth: write a synthetic dataset; inspect: summarise a root',
        })
        .option('out', { type: 'string', describe: 'synth: output folder (must not already hold files/)' })
        .option('studies', { type: 'number', default: 200, describe: 'synth: number of studies' })
        .option('seed', { type: 'number', default: 0, describe: 'synth: seed (same seed, same dataset)' })
        .option('size', {
          type: 'number',
          default: 256,
          describe: 'synth: image height in pixels (width varies per image)',
        })
        .option('root', {
          type: 'string',
          describe: 'inspect: dataset root (holds mimic-cxr-2.0.0-*.csv[.gz] and files/)',
        })
        .option('labels', {
          choices: ['chexpert', 'negbio'] as const,
          default: 'chexpert' as const,
          describe: 'inspect: label table',
        })
        .option('sectioned', {
          type: 'string',
          describe: 'inspect: read report text from this mimic_cxr_sectioned.csv instead of the .txt files',
        })
        .option('strict', {
          type: 'boolean',
          default: false,
          describe: 'inspect: stop at the first problem instead of counting it',
        })
        .option('json', { type: 'boolean', default: false, describe: 'inspect: print JSON' })
        .check((args) => {
          if (args.action === 'synth' && !args.out) throw new UserError('data synth needs --out DIR');
          if (args.action === 'inspect' && !args.root) throw new UserError('data inspect needs --root DIR');
          return true;
        }),
    async (args) => {
      if (args.action === 'synth') {
        checkNumbers(args, { seed: NON_NEGATIVE_INTEGER }); // studies and size: synthesizeDataset checks them
        const bar = new Progress('synth', args.studies, 'studies');
        const s = await synthesizeDataset({
          out: args.out!,
          studies: args.studies,
          seed: args.seed,
          size: args.size,
          onProgress: (d) => bar.update(d),
        });
        console.log(
          `data synth: ${s.patients} patients, ${s.studies} studies, ${s.images} images in ${s.seconds.toFixed(1)} s (${(s.images / s.seconds).toFixed(0)} images/s) -> ${args.out}`,
        );
      } else {
        const report = inspectDataset({
          root: args.root!,
          labelSource: args.labels,
          sectionedCsv: args.sectioned,
          strict: args.strict,
        });
        console.log(args.json ? JSON.stringify(report, null, 2) : formatInspectReport(report));
      }
    },
  );
}
