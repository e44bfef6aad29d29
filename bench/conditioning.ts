/**
 * Does text conditioning work? Generates images from prompts with and without findings the
 * phantoms render strongly and measures them as the synthetic generator's truth is measured: the
 * cardiothoracic ratio (heart width / thorax width) and the lower-zone brightness (pleural fluid).
 * The same measurements on real images of the embedded dataset give the scale to compare with.
 * Measured in the dataset's typical crop frame (mean shorter-side crop of its frontal images).
 * usage: node dist/bench/conditioning.js CHECKPOINT [n per prompt = 16] [steps = 25]
 */
import { embeddedDataset } from '../src/data/cache';
import { cardiothoracicRatio, lowerZoneBrightness } from '../src/data/measure';
import { loadMimic } from '../src/data/mimic';
import { ImageLoader } from '../src/data/images';
import { CHEXPERT_LABELS, labelIndex, POSITIVE } from '../src/data/labels';
import { loadGenerator } from '../src/generation/generator';
import { cropScale } from '../src/rewards/fit/data';
import { squareSide } from '../src/generation/sample-decoder';
import { generateImages } from '../src/generation/sampling';

const PROMPTS: Record<string, string> = {
  normal: 'No acute cardiopulmonary process.',
  cardiomegaly: 'Moderate cardiomegaly.',
  effusion: 'Moderate bilateral pleural effusion with blunting of the costophrenic angle.',
};

const stats = (v: number[]) => {
  const ok = v.filter((x) => Number.isFinite(x));
  const m = ok.reduce((a, b) => a + b, 0) / ok.length;
  const sd = Math.sqrt(ok.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, ok.length - 1));
  return { mean: m, sd, n: ok.length };
};

async function main(): Promise<void> {
  const [ckpt, nArg, stepsArg] = process.argv.slice(2);
  if (!ckpt) throw new Error('usage: node dist/bench/conditioning.js CHECKPOINT [n] [steps]');
  const n = Number(nArg ?? 16),
    steps = Number(stepsArg ?? 25);
  const gen = await loadGenerator(ckpt);
  const S = squareSide(gen.decoder, ckpt);
  const root = await embeddedDataset(2000, 0);
  const recs = loadMimic({ root, splits: ['train'] }).records;
  const ks = recs.map((r) => cropScale(r.columns, r.rows));
  const frame = {
    scaleX: 1 / (ks.reduce((a, k) => a + k[0], 0) / ks.length),
    scaleY: 1 / (ks.reduce((a, k) => a + k[1], 0) / ks.length),
    shiftX: 0,
    shiftY: 0,
    rotation: 0,
  };
  const measure = (px: Uint8Array) => ({
    ctr: cardiothoracicRatio(px, S, S, frame),
    lower: lowerZoneBrightness(px, S, S, frame),
  });
  console.log(`| images | n | cardiothoracic ratio | lower-zone brightness |\n|---|---|---|---|`);
  const row = (name: string, ms: { ctr: number; lower: number }[]) => {
    const c = stats(ms.map((m) => m.ctr)),
      l = stats(ms.map((m) => m.lower));
    console.log(
      `| ${name} | ${ms.length} | ${c.mean.toFixed(3)} ± ${c.sd.toFixed(3)} | ${l.mean.toFixed(1)} ± ${l.sd.toFixed(1)} |`,
    );
  };
  // Real dataset images: only-this-finding studies, as the reference scale.
  console.error('conditioning: measuring dataset images...');
  const loader = new ImageLoader({ size: S }, null);
  const only = (label: string | null) =>
    recs
      .filter((r) => {
        const pos = CHEXPERT_LABELS.filter((_, k) => r.labels[k] === POSITIVE);
        return label === null
          ? pos.length === 1 && pos[0] === 'No Finding'
          : r.labels[labelIndex(label as never)] === POSITIVE &&
              pos.every((p) => p === label || p === 'Support Devices');
      })
      .slice(0, 40);
  for (const [name, label] of [
    ['normal', null],
    ['cardiomegaly', 'Cardiomegaly'],
    ['effusion', 'Pleural Effusion'],
  ] as const) {
    const ms = [];
    for (const r of only(label)) {
      const px = await loader.load(r);
      if (px) ms.push(measure(px));
    }
    row(`dataset: ${name}`, ms);
  }
  const generated: Record<string, { ctr: number; lower: number }[]> = {};
  for (const [name, prompt] of Object.entries(PROMPTS)) {
    console.error(`conditioning: sampling ${n} images of "${prompt}" (${steps} steps)...`);
    const imgs = await generateImages(gen, Array(n).fill(prompt), { steps, eta: 0, guidanceScale: 4, seed: 1 }, (d) =>
      process.stderr.write(`\r  step ${d}/${steps}`),
    );
    process.stderr.write('\n');
    generated[name] = imgs.map(measure);
    row(`generated: "${prompt}"`, generated[name]);
  }
  // Welch's t of the differences the README quotes: each finding's prompt against the normal one.
  const welch = (a: number[], b: number[]) => {
    const x = stats(a),
      y = stats(b);
    return { diff: x.mean - y.mean, t: (x.mean - y.mean) / Math.sqrt(x.sd ** 2 / x.n + y.sd ** 2 / y.n) };
  };
  const ctr = welch(
    generated.cardiomegaly.map((m) => m.ctr),
    generated.normal.map((m) => m.ctr),
  );
  const lower = welch(
    generated.effusion.map((m) => m.lower),
    generated.normal.map((m) => m.lower),
  );
  console.log(
    `\ncardiomegaly vs normal prompt: cardiothoracic ratio ${ctr.diff >= 0 ? '+' : ''}${ctr.diff.toFixed(3)}, t = ${ctr.t.toFixed(1)}`,
  );
  console.log(
    `effusion vs normal prompt: lower-zone brightness ${lower.diff >= 0 ? '+' : ''}${lower.diff.toFixed(1)}, t = ${lower.t.toFixed(1)}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
