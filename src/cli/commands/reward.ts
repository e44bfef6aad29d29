import type { Argv } from 'yargs';
import { describeFit, REWARD_FIT_DEFAULTS, runRewardFit } from '../../rewards/run-fit';
import { runRewardScore } from '../../rewards/run-score';
import { UserError } from '../../util/errors';
import { checkNumbers, NON_NEGATIVE_INTEGER, POSITIVE, requirePositiveIntegers } from '../../util/numeric-options';

const fmt = (v: number | null) => (v === null ? '   n/a' : v.toFixed(4).padStart(8));

export function registerReward(y: Argv): Argv {
  return y.command(
    'reward',
    'Fit the default reward models (ONNX + contract) and score images with r_align, s_diag, s_cons',
    (r) =>
      r
        .command(
          'fit',
          'Train a default reward model with the engine and export it to ONNX (NAME.onnx + NAME.onnx.json)',
          (a) =>
            a
              .option('kind', {
                choices: ['posture', 'classifier', 'consistency'] as const,
                demandOption: true,
                describe:
                  'posture: psi regressor; classifier: 14 CheXpert findings; consistency: image/report dual encoder (writes NAME-text.onnx too)',
              })
              .option('data', {
                type: 'string',
                describe:
                  'MIMIC-CXR-JPG root; default: the embedded synthetic dataset (made once into the cache folder)',
              })
              .option('out', {
                type: 'string',
                demandOption: true,
                describe: 'FILE.onnx to write (its contract goes to FILE.onnx.json)',
              })
              .option('steps', { type: 'number', default: REWARD_FIT_DEFAULTS.steps, describe: 'optimizer steps' })
              .option('batch-size', {
                type: 'number',
                default: REWARD_FIT_DEFAULTS.batchSize,
                describe: 'images per step',
              })
              .option('lr', {
                type: 'number',
                default: REWARD_FIT_DEFAULTS.lr,
                describe: 'AdamW peak learning rate (warm-up, then cosine decay)',
              })
              .option('image-size', {
                type: 'number',
                default: REWARD_FIT_DEFAULTS.imageSize,
                describe: 'model input size (square; a power-of-two multiple of 16)',
              })
              .option('seed', {
                type: 'number',
                default: REWARD_FIT_DEFAULTS.seed,
                describe: 'seed of the init, batches and transforms',
              })
              .option('synth-studies', {
                type: 'number',
                default: REWARD_FIT_DEFAULTS.synthStudies,
                describe: 'studies in the embedded synthetic dataset',
              })
              .option('json', { type: 'boolean', default: false, describe: 'print the fit report as JSON' })
              .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing model at --out' }),
          async (args) => {
            requirePositiveIntegers(args, ['steps', 'batchSize', 'imageSize', 'synthStudies']);
            if (args.imageSize % 16)
              throw new UserError('--image-size must be a multiple of 16 (the CNN halves it four times)');
            checkNumbers(args, { lr: POSITIVE, seed: NON_NEGATIVE_INTEGER });
            const report = await runRewardFit({ ...args, kind: args.kind });
            console.log(args.json ? JSON.stringify(report, null, 2) : describeFit(report));
          },
        )
        .command(
          'score',
          'Score images: r_align (posture), s_diag (classifier vs the report labels), s_cons (consistency)',
          (a) =>
            a
              .option('models', {
                type: 'string',
                array: true,
                demandOption: true,
                describe: 'ONNX model files or folders of them (each with NAME.onnx.json)',
              })
              .option('images', { type: 'string', demandOption: true, describe: 'folder of .png/.jpg images' })
              .option('reports', {
                type: 'string',
                describe:
                  'CSV (image, text[, CheXpert label columns]) or JSONL {image, text}; default: the .json sidecars of generate',
              })
              .option('device', {
                choices: ['cpu', 'cuda', 'auto'] as const,
                default: 'cpu' as const,
                describe: 'ONNX Runtime execution provider (cuda falls back to cpu with a message)',
              })
              .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
              .option('strict', {
                type: 'boolean',
                default: false,
                describe: 'stop at the first unreadable image (default: skip it, count it and name it)',
              }),
          async (args) => {
            const { files, summary, providers, probabilities, notes, unreadable } = await runRewardScore({
              models: args.models,
              images: args.images,
              reports: args.reports,
              device: args.device,
              strict: args.strict,
            });
            if (args.json) {
              console.log(
                JSON.stringify(
                  {
                    images: files.map((f, i) => ({
                      file: f,
                      ...summary.perImage[i],
                      ...(probabilities[i] ? { probabilities: probabilities[i] } : {}),
                    })),
                    means: summary.means,
                    providers,
                    notes,
                    unreadable,
                  },
                  null,
                  2,
                ),
              );
              return;
            }
            console.log(`${'image'.padEnd(24)}  r_align   s_diag   s_cons`);
            files.forEach((f, i) =>
              console.log(
                `${f.padEnd(24)}${fmt(summary.perImage[i].r_align)} ${fmt(summary.perImage[i].s_diag)} ${fmt(summary.perImage[i].s_cons)}`,
              ),
            );
            console.log(
              `${'mean'.padEnd(24)}${fmt(summary.means.r_align)} ${fmt(summary.means.s_diag)} ${fmt(summary.means.s_cons)}`,
            );
            for (const n of notes) console.error(`note: ${n}`);
            const withProbs = files.flatMap((f, i) => (probabilities[i] ? [[f, probabilities[i]!] as const] : []));
            for (const [f, p] of withProbs) {
              const top = Object.entries(p)
                .sort((x, y) => y[1] - x[1])
                .slice(0, 3);
              console.log(`${f}: classifier ${top.map(([l, v]) => `${l} ${v.toFixed(2)}`).join(', ')}`);
            }
          },
        )
        .demandCommand(1, 'give a subcommand: fit or score'),
  );
}
