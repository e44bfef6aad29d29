import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { Argv } from 'yargs';
import { readCsv } from '../../data/csv';
import { fileSha256, loadGenerator } from '../../generation/generator';
import { generateImages, writeGrid } from '../../generation/sampling';
import { checkGenerationSettings, GENERATION_DEFAULTS } from '../../generation/settings';
import { UserError } from '../../util/errors';
import { Progress } from '../../util/progress';
import { requirePositiveIntegers } from '../validate';

/** Prompts from a file: one per line (.txt), a "text"/"prompt"/"report"/"impression" field (.jsonl) or column (.csv). */
export function readPrompts(file: string): string[] {
  if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`);
  const fields = ['text', 'prompt', 'report', 'impression'];
  if (file.endsWith('.csv')) {
    const t = readCsv(file);
    const col = fields.map((f) => t.header.indexOf(f)).find((i) => i >= 0);
    if (col === undefined) throw new UserError(`${file}: needs one of the columns ${fields.join(', ')}`);
    return t.rows.map((r) => r[col]).filter((s) => s.trim());
  }
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim());
  if (file.endsWith('.jsonl')) {
    return lines.map((l, i) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(l);
      } catch {
        throw new UserError(`${file}: line ${i + 1} is not JSON`);
      }
      const f = fields.find((k) => typeof o[k] === 'string');
      if (!f) throw new UserError(`${file}: line ${i + 1} has none of ${fields.join(', ')}`);
      return o[f] as string;
    });
  }
  return lines;
}

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
        .option('device', {
          choices: ['cpu', 'cuda', 'auto'] as const,
          default: 'cpu' as const,
          describe: 'ONNX Runtime execution provider for an ONNX text encoder',
        })
        .option('batch-size', { type: 'number', default: 16, describe: 'images sampled together' })
        .option('out', {
          type: 'string',
          demandOption: true,
          describe: 'output folder: PROMPT-SAMPLE.png and a .json sidecar each',
        })
        .option('grid', { type: 'boolean', default: false, describe: 'also write grid.png' }),
    async (args) => {
      const prompts = [...(args.prompt ?? []), ...(args.prompts ? readPrompts(args.prompts) : [])];
      if (prompts.length === 0) throw new UserError('give --prompt TEXT or --prompts FILE');
      requirePositiveIntegers(args, ['n', 'steps', 'batchSize']);
      const g = checkGenerationSettings({
        steps: args.steps,
        eta: args.eta,
        guidanceScale: args.guidanceScale,
        seed: args.seed,
      });
      const gen = await loadGenerator(args.checkpoint, {
        textEncoder: args.textEncoder,
        tokenizer: args.tokenizer,
        device: args.device,
        useEma: args.ema,
      });
      const all = prompts.flatMap((p) => Array.from({ length: args.n }, () => p));
      const chunks = Math.ceil(all.length / args.batchSize);
      const bar = new Progress('generate', chunks * args.steps, 'steps');
      const images: Uint8Array[] = [];
      // Chunk c samples images [c*B, (c+1)*B) with seed + c, so a run's images do not depend on which
      // other prompts share the run, only on (seed, batch size, position).
      for (let c = 0; c < chunks; c++) {
        const part = all.slice(c * args.batchSize, (c + 1) * args.batchSize);
        images.push(
          ...(await generateImages(gen, part, { ...g, seed: g.seed + c }, (d) => bar.update(c * args.steps + d))),
        );
      }
      fs.mkdirSync(args.out, { recursive: true });
      const hash = fileSha256(gen.weightsFile);
      const size = gen.imageSize;
      for (let i = 0; i < images.length; i++) {
        const name = `${Math.floor(i / args.n)}-${i % args.n}`;
        const img = sharp(Buffer.from(images[i]), { raw: { width: size, height: size, channels: 1 } }).toColourspace(
          'b-w',
        );
        await (args.format === 'jpeg' ? img.jpeg({ quality: 95 }) : img.png()).toFile(
          path.join(args.out, `${name}.${args.format === 'jpeg' ? 'jpg' : 'png'}`),
        );
        fs.writeFileSync(
          path.join(args.out, `${name}.json`),
          JSON.stringify(
            {
              prompt: all[i],
              prompt_index: Math.floor(i / args.n),
              sample_index: i % args.n,
              seed: g.seed + Math.floor(i / args.batchSize),
              noise_stream: i % args.batchSize,
              batch_size: args.batchSize,
              steps: g.steps,
              eta: g.eta,
              guidance_scale: g.guidanceScale,
              checkpoint: path.resolve(args.checkpoint),
              model_kind: gen.kind,
              weights: path.basename(gen.weightsFile),
              weights_sha256: hash,
              step: gen.step,
              ace_tokens: gen.aceTokens ?? 0,
              scheduler: gen.scheduler,
            },
            null,
            2,
          ) + '\n',
        );
      }
      if (args.grid) await writeGrid(images, size, path.join(args.out, 'grid.png'), args.n > 1 ? args.n : 4);
      console.log(`generate: ${images.length} images (${size}x${size}) -> ${args.out}`);
    },
  );
}
