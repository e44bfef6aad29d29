import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { Argv } from 'yargs';
import { readCsv } from '../../data/csv';
import { Pretrainer } from '../../train/pretrain';
import { generateImages, writeGrid } from '../../train/samples';
import { UserError } from '../../util/errors';
import { Progress } from '../../util/progress';

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
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  if (file.endsWith('.jsonl')) {
    return lines.map((l, i) => {
      let o: Record<string, unknown>;
      try { o = JSON.parse(l); } catch { throw new UserError(`${file}: line ${i + 1} is not JSON`); }
      const f = fields.find((k) => typeof o[k] === 'string');
      if (!f) throw new UserError(`${file}: line ${i + 1} has none of ${fields.join(', ')}`);
      return o[f] as string;
    });
  }
  return lines;
}

export function registerGenerate(y: Argv): Argv {
  return y.command('generate', 'Generate chest X-rays from report text with a checkpoint made by train --stage pretrain', (a) =>
    a
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'checkpoint folder (RUN/checkpoint)' })
      .option('prompt', { type: 'string', array: true, describe: 'report text (repeat for several)' })
      .option('prompts', { type: 'string', describe: 'file of prompts: .txt (one a line), .jsonl or .csv with a text/prompt/report/impression field' })
      .option('n', { type: 'number', default: 1, describe: 'images per prompt' })
      .option('steps', { type: 'number', default: 50, describe: 'DDIM steps' })
      .option('eta', { type: 'number', default: 0, describe: 'DDIM eta (0: deterministic given the initial noise)' })
      .option('guidance-scale', { type: 'number', default: 4, describe: 'classifier-free guidance scale (1: none)' })
      .option('seed', { type: 'number', default: 0, describe: 'image i of the run uses noise stream i of this seed' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder: PROMPT-SAMPLE.png and a .json sidecar each' })
      .option('grid', { type: 'boolean', default: false, describe: 'also write grid.png' }),
  async (args) => {
    const prompts = [...(args.prompt ?? []), ...(args.prompts ? readPrompts(args.prompts) : [])];
    if (prompts.length === 0) throw new UserError('give --prompt TEXT or --prompts FILE');
    if (!Number.isInteger(args.n) || args.n < 1) throw new UserError('--n must be a positive integer');
    if (!fs.existsSync(path.join(args.checkpoint, 'state.json'))) throw new UserError(`${args.checkpoint}: not a checkpoint folder (no state.json)`);
    const model = Pretrainer.load(args.checkpoint);
    const all = prompts.flatMap((p) => Array.from({ length: args.n }, () => p));
    const bar = new Progress('generate', args.steps, 'steps');
    const size = model.settings.imageSize;
    const g = { steps: args.steps, eta: args.eta, guidanceScale: args.guidanceScale, seed: args.seed };
    const images = await generateImages(model.unet, model.text, model.tokenizer, model.scheduler, all, size, model.settings.textLength, g, (d) => bar.update(d));
    fs.mkdirSync(args.out, { recursive: true });
    const hash = crypto.createHash('sha256').update(fs.readFileSync(path.join(args.checkpoint, 'unet.safetensors'))).digest('hex');
    for (let i = 0; i < images.length; i++) {
      const name = `${Math.floor(i / args.n)}-${i % args.n}`;
      await sharp(Buffer.from(images[i]), { raw: { width: size, height: size, channels: 1 } }).toColourspace('b-w').png().toFile(path.join(args.out, `${name}.png`));
      fs.writeFileSync(path.join(args.out, `${name}.json`), JSON.stringify({
        prompt: all[i], prompt_index: Math.floor(i / args.n), sample_index: i % args.n, noise_stream: i,
        steps: g.steps, eta: g.eta, guidance_scale: g.guidanceScale, seed: g.seed,
        checkpoint: path.resolve(args.checkpoint), unet_sha256: hash, step: model.state.step, scheduler: model.scheduler,
      }, null, 2) + '\n');
    }
    if (args.grid) await writeGrid(images, size, path.join(args.out, 'grid.png'), args.n > 1 ? args.n : 4);
    console.log(`generate: ${images.length} images (${size}x${size}) -> ${args.out}`);
  });
}
