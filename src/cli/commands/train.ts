import type { Argv } from 'yargs';
import { runPretrain } from '../../train/run-pretrain';
import { UserError } from '../../util/errors';
import { requirePositiveIntegers } from '../validate';

export function registerTrain(y: Argv): Argv {
  return y.command('train', 'Pretrain a report-to-CXR diffusion model (--stage pretrain); the RL stage is not built yet', (a) =>
    a
      .option('stage', { choices: ['pretrain', 'rl'] as const, demandOption: true, describe: 'pretrain: the base generator; rl: CXRL fine-tuning (not built yet)' })
      .option('data', { type: 'string', describe: 'MIMIC-CXR-JPG root (CSVs + files/ with reports); default: the embedded synthetic dataset, made once into the cache folder' })
      .option('out', { type: 'string', default: 'runs/pretrain', describe: 'run folder: checkpoint/, metrics.jsonl, samples/' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue OUT/checkpoint exactly (same data order and randomness)' })
      .option('steps', { type: 'number', default: 600, describe: 'optimizer steps to reach (600: about 15 minutes on two CPU cores with the small preset)' })
      .option('batch-size', { type: 'number', default: 8, describe: 'images per micro-batch' })
      .option('grad-accum', { type: 'number', default: 1, describe: 'micro-batches per optimizer step' })
      .option('lr', { type: 'number', default: 5e-4, describe: 'AdamW learning rate (UNet and text encoder) after warm-up' })
      .option('ema-decay', { type: 'number', default: 0.999, describe: 'EMA of the UNet weights used for sampling (0: none); warms up as (1+step)/(10+step)' })
      .option('warmup', { type: 'number', default: 50, describe: 'linear warm-up steps' })
      .option('image-size', { type: 'number', default: 64, describe: 'training resolution (square, grayscale)' })
      .option('preset', { type: 'string', default: 'small', describe: 'UNet preset (small, tiny, mid) or a diffusers config.json' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the init, data order and noise' })
      .option('save-every', { type: 'number', default: 200, describe: 'checkpoint every N steps (and at the end, and on Ctrl-C)' })
      .option('sample-every', { type: 'number', default: 200, describe: 'sample grid PNG every N steps (0: never)' })
      .option('text-length', { type: 'number', default: 48, describe: 'tokens per report (truncated / padded)' })
      .option('synth-studies', { type: 'number', default: 2000, describe: 'studies in the embedded synthetic dataset' }),
  async (args) => {
    if (args.stage === 'rl') throw new UserError("'train --stage rl' (CXRL fine-tuning) is not built yet in this version of cxrl-native");
    requirePositiveIntegers(args, ['steps', 'batchSize', 'gradAccum', 'imageSize', 'saveEvery', 'textLength', 'synthStudies']);
    if (!(args.emaDecay >= 0 && args.emaDecay < 1)) throw new UserError('--ema-decay must be in [0, 1)');
    await runPretrain(args as never);
  });
}
