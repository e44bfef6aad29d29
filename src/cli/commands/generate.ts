import type { Argv } from 'yargs';
import { readPrompts } from '../../generation/prompts-file';
import { runGenerate } from '../../generation/run-generate';
import { checkGenerationSettings, GENERATION_DEFAULTS } from '../../generation/settings';
import { UserError } from '../../util/errors';
import { requirePositiveIntegers } from '../../util/numeric-options';

export { readPrompts } from '../../generation/prompts-file';

export function registerGenerate(y: Argv): Argv {
  return y.command(
    'generate',
    'Generate chest X-rays from report text (a checkpoint made here, or a diffusers UNet with an ONNX text encoder)',
    (a) =>
      a
        .option('checkpoint', {
          type: 'string',
          demandOption: true,
          describe:
            'RUN/checkpoint made by train, a diffusers pipeline folder (unet/, scheduler/, text_encoder/model.onnx, tokenizer/), or a diffusers UNet folder',
        })
        .option('text-encoder', {
          type: 'string',
          describe: 'ONNX text encoder for a diffusers UNet (input_ids -> last_hidden_state)',
        })
        .option('tokenizer', {
          type: 'string',
          describe: 'CLIP tokenizer folder (vocab.json, merges.txt) for the ONNX text encoder',
        })
        .option('prompt', { type: 'string', array: true, describe: 'report text (repeat for several)' })
        .option('prompts', {
          type: 'string',
          describe: 'file of prompts: .txt (one a line), .jsonl or .csv with a text/prompt/report/impression field',
        })
        .option('n', { type: 'number', default: 1, describe: 'images per prompt' })
        .option('steps', { type: 'number', default: GENERATION_DEFAULTS.steps, describe: 'DDIM steps' })
        .option('eta', {
          type: 'number',
          default: GENERATION_DEFAULTS.eta,
          describe: 'DDIM eta (0: deterministic given the initial noise)',
        })
        .option('guidance-scale', {
          type: 'number',
          default: GENERATION_DEFAULTS.guidanceScale,
          describe: 'classifier-free guidance scale (1: none)',
        })
        .option('seed', {
          type: 'number',
          default: GENERATION_DEFAULTS.seed,
          describe: 'image i of the run uses noise stream i of this seed',
        })
        .option('ema', {
          type: 'boolean',
          default: true,
          describe: 'use the EMA weights of a checkpoint made here when it has them (--no-ema: the raw weights)',
        })
        .option('format', { choices: ['png', 'jpeg'] as const, default: 'png' as const, describe: 'image file format' })
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
        .option('batch-size', { type: 'number', default: 16, describe: 'images sampled together' })
        .option('height', {
          type: 'number',
          describe:
            "image height in pixels (default: the model's, from its configs: UNet sample_size, x8 through an SD VAE)",
        })
        .option('width', { type: 'number', describe: "image width in pixels (default: the model's)" })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe: 'output folder: PROMPT-SAMPLE.png and a .json sidecar each',
        })
        .option('grid', { type: 'boolean', default: false, describe: 'also write grid.png' })
        .option('overwrite', { type: 'boolean', default: false, describe: 'replace the images of a non-empty --out' })
        .option('resume', {
          type: 'boolean',
          default: false,
          describe: 'continue into a non-empty --out: images whose sidecar has the same settings are kept',
        }),
    async (args) => {
      const prompts = [...(args.prompt ?? []), ...(args.prompts ? readPrompts(args.prompts) : [])];
      if (prompts.length === 0) throw new UserError('give --prompt TEXT or --prompts FILE');
      requirePositiveIntegers(args, ['n', 'steps', 'batchSize', 'height', 'width']);
      if (args.overwrite && args.resume) throw new UserError('give --overwrite or --resume, not both');
      await runGenerate({
        checkpoint: args.checkpoint,
        textEncoder: args.textEncoder,
        tokenizer: args.tokenizer,
        device: args.device,
        precision: args.precision,
        useEma: args.ema,
        prompts,
        n: args.n,
        settings: checkGenerationSettings({
          steps: args.steps,
          eta: args.eta,
          guidanceScale: args.guidanceScale,
          seed: args.seed,
        }),
        batchSize: args.batchSize,
        format: args.format,
        out: args.out,
        grid: args.grid,
        overwrite: args.overwrite,
        resume: args.resume,
        height: args.height,
        width: args.width,
      });
    },
  );
}
