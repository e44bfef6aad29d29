import type { Argv } from 'yargs';
import { METRICS, Metric } from '../../eval/generated-metrics';
import { parseModelSpecs, runEval } from '../../eval/run-eval';
import { checkGenerationSettings, GENERATION_DEFAULTS } from '../../generation/settings';
import { UserError } from '../../util/errors';
import { requirePositiveIntegers } from '../../util/numeric-options';

/** eval's generation defaults: generate's, with 20 steps to keep a CPU evaluation short. */
const EVAL_STEPS = 20;

export function registerEval(y: Argv): Argv {
  return y.command(
    'eval',
    'Evaluate generators side by side on held-out reports: posture, AUROC, consistency, FID (+ KID), MS-SSIM',
    (a) =>
      a
        .option('models', {
          type: 'string',
          demandOption: true,
          describe:
            "NAME=PATH[,NAME=PATH...]: checkpoints or run folders (anything generate accepts), or NAME=images:DIR for images with generate's sidecars",
        })
        .option('fid', {
          type: 'boolean',
          default: true,
          describe: 'compute FID and KID (--no-fid skips them: they need real images and a features model)',
        })
        .option('metrics', {
          type: 'string',
          describe: `comma-separated subset of ${METRICS.join(',')} (default: all)`,
        })
        .option('rewards', {
          type: 'string',
          array: true,
          describe: 'reward models (files or folders); default: the default models, fitted once into the cache folder',
        })
        .option('features', {
          type: 'string',
          describe:
            'features model for FID (ONNX with a contract of kind "features"); default: the default classifier\'s pooled features',
        })
        .option('data', { type: 'string', describe: 'MIMIC-CXR-JPG root; default: the embedded synthetic dataset' })
        .option('split', {
          choices: ['validate', 'test'] as const,
          default: 'test' as const,
          describe: 'split of the reports and of the real reference images',
        })
        .option('reports', { type: 'number', default: 32, describe: 'reports: the first N of the split by study id' })
        .option('n-per-report', { type: 'number', default: 2, describe: 'images per report (2 or more for MS-SSIM)' })
        .option('steps', { type: 'number', default: EVAL_STEPS, describe: 'DDIM steps' })
        .option('eta', { type: 'number', default: GENERATION_DEFAULTS.eta, describe: 'DDIM eta' })
        .option('guidance-scale', {
          type: 'number',
          default: GENERATION_DEFAULTS.guidanceScale,
          describe: 'classifier-free guidance scale',
        })
        .option('seed', {
          type: 'number',
          default: GENERATION_DEFAULTS.seed,
          describe: 'noise seed, the same for every model (chunk c of --batch-size images uses seed + c)',
        })
        .option('batch-size', { type: 'number', default: 16, describe: 'images sampled together' })
        .option('bootstrap', {
          type: 'number',
          default: 1000,
          describe: 'bootstrap replicates over reports for the 95% intervals (0: none)',
        })
        .option('real-images', {
          type: 'number',
          default: 2000,
          describe: 'at most this many real images of the split as the FID reference',
        })
        .option('keep-images', {
          type: 'boolean',
          default: true,
          describe: 'write the generated images (--no-keep-images: only the numbers)',
        })
        .option('overwrite', { type: 'boolean', default: false, describe: 'write into a non-empty --out' })
        .option('precision', {
          choices: ['fp32', 'bf16'] as const,
          default: 'fp32' as const,
          describe: "the GPU's matrix products: bf16 operands with fp32 accumulation (needs --device cuda)",
        })
        .option('device', {
          choices: ['cpu', 'cuda', 'auto'] as const,
          default: 'cpu' as const,
          describe:
            "where the UNet runs (cuda: the engine's CUDA backend) and ONNX Runtime's execution provider; auto: CUDA when usable",
        })
        .option('synth-studies', {
          type: 'number',
          default: 2000,
          describe: 'studies in the embedded synthetic dataset',
        })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe: 'output folder: eval.json, eval.md, METRIC.png, images/',
        }),
    async (args) => {
      requirePositiveIntegers(args, ['reports', 'nPerReport', 'batchSize', 'realImages', 'synthStudies']);
      if (!Number.isInteger(args.bootstrap) || args.bootstrap < 0)
        throw new UserError(`--bootstrap must be an integer >= 0, got ${args.bootstrap}`);
      const generation = checkGenerationSettings({
        steps: args.steps,
        eta: args.eta,
        guidanceScale: args.guidanceScale,
        seed: args.seed,
      });
      let metrics: Metric[] = [...METRICS];
      if (args.metrics !== undefined) {
        metrics = args.metrics
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean) as Metric[];
        for (const m of metrics)
          if (!METRICS.includes(m))
            throw new UserError(`--metrics: unknown metric "${m}" (choose from ${METRICS.join(', ')})`);
        if (metrics.length === 0) throw new UserError('--metrics: give at least one metric');
      }
      if (!args.fid) metrics = metrics.filter((m) => m !== 'fid' && m !== 'kid');
      await runEval({
        models: parseModelSpecs(args.models),
        rewards: args.rewards,
        features: args.features,
        data: args.data,
        split: args.split,
        reports: args.reports,
        perReport: args.nPerReport,
        generation,
        batchSize: args.batchSize,
        metrics: new Set(metrics),
        bootstrap: args.bootstrap,
        realImages: args.realImages,
        out: args.out,
        keepImages: args.keepImages,
        overwrite: args.overwrite,
        device: args.device,
        precision: args.precision,
        synthStudies: args.synthStudies,
      });
    },
  );
}
