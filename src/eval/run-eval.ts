/**
 * `cxrl-native eval`: the paper's evaluation of one or more generators on the same held-out reports
 * and seeds. Reports: the first N of the split by study id (one per study, impression else
 * findings); k images each; chunk c of `--batch-size` images uses seed + c, as `generate` does, so
 * every model sees the same noise. Real images of the split are the FID/KID reference, and two
 * disjoint random halves of them give the real-vs-real floor. Writes eval.json, eval.md, a bar
 * chart per metric (PNG) and, unless --no-keep-images, the images with sidecars.
 */
import { Precision, configureEngine } from '../engine/device';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { cachedImageLoader, embeddedDataset } from '../data/cache';
import { toModelRange } from '../data/images';
import { loadMimic, Split } from '../data/mimic';
import { fileSha256, loadGenerator } from '../generation/generator';
import { squareSide } from '../generation/sample-decoder';
import { generateImages } from '../generation/sampling';
import type { GenerationSettings } from '../generation/settings';
import type { OrtDevice } from '../onnx/runtime';
import { readContract } from '../rewards/contract';
import { classifierFeaturesFile } from '../rewards/fit/classifier';
import { defaultRewardModels } from '../rewards/default-models';
import { ImageRewardModel } from '../rewards/reward-model';
import { RewardScorer } from '../rewards/scorer';
import { loadReports, Report } from '../rl/prompts';
import { UserError } from '../util/errors';
import { Progress } from '../util/progress';
import { Rng } from '../util/random';
import { barChartSvg, markdownTable } from './report';
import { computeMetrics, Metric, ModelImages, RealFeatures, realFloor } from './generated-metrics';

export interface ModelSpec {
  name: string;
  /** a model folder (anything generate accepts) or, with images: true, a folder of generated images with sidecars */
  path: string;
  images: boolean;
}

export interface EvalArgs {
  models: ModelSpec[];
  rewards?: string[];
  features?: string;
  data?: string;
  split: Split;
  reports: number;
  perReport: number;
  generation: GenerationSettings;
  batchSize: number;
  metrics: Set<Metric>;
  bootstrap: number;
  realImages: number;
  out: string;
  keepImages: boolean;
  overwrite: boolean;
  device: OrtDevice;
  /** the device GEMMs' precision (src/engine/device.ts) */
  precision: Precision;
  synthStudies: number;
}

/** `a=runs/pretrain/checkpoint,b=images:runs/gen` -> specs; names unique. */
export function parseModelSpecs(text: string): ModelSpec[] {
  const specs = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^([A-Za-z0-9_.-]+)=(images:)?(.+)$/.exec(s);
      if (!m)
        throw new UserError(`--models: "${s}" is not NAME=PATH or NAME=images:DIR (NAME: letters, digits, _ . -)`);
      return { name: m[1], path: m[3], images: !!m[2] };
    });
  if (specs.length === 0) throw new UserError('--models: give at least one NAME=PATH');
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new UserError(`--models: the name ${s.name} is used twice`);
    seen.add(s.name);
  }
  return specs;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** Images made elsewhere: k per report, matched to the reports by their sidecar's prompt text. */
async function readImageFolder(dir: string, reports: Report[], k: number, size: number): Promise<Uint8Array[]> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${dir}: no such folder of images`);
  const byPrompt = new Map<string, string[]>();
  let sidecars = 0;
  for (const f of fs
    .readdirSync(dir)
    .filter((x) => IMAGE_EXT.test(x))
    .sort()) {
    const side = path.join(dir, f.replace(IMAGE_EXT, '.json'));
    if (!fs.existsSync(side)) continue;
    sidecars++;
    const prompt = (JSON.parse(fs.readFileSync(side, 'utf8')) as { prompt?: unknown }).prompt;
    if (typeof prompt === 'string') byPrompt.set(prompt, [...(byPrompt.get(prompt) ?? []), path.join(dir, f)]);
  }
  if (sidecars === 0)
    throw new UserError(`${dir}: no images with .json sidecars (generate writes one per image, with the prompt)`);
  const out: Uint8Array[] = [];
  for (const r of reports) {
    const files = byPrompt.get(r.text) ?? [];
    if (files.length < k)
      throw new UserError(
        `${dir}: ${files.length} images for the report "${r.text.slice(0, 60)}" (study ${r.studyId}); --n-per-report ${k} needs ${k}`,
      );
    for (const f of files.slice(0, k)) {
      const { data } = await sharp(f)
        .grayscale()
        .resize(size, size, { fit: 'cover' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      out.push(new Uint8Array(data));
    }
  }
  return out;
}

/** 8-bit images -> the generator's [-1, 1] range, one after another. */
function toGeneratorRange(pixels: Uint8Array[], size: number): Float32Array {
  const out = new Float32Array(pixels.length * size * size);
  pixels.forEach((p, i) => toModelRange(p, out, i * size * size));
  return out;
}

async function writeImages(
  dir: string,
  pixels: Uint8Array[],
  size: number,
  reports: Report[],
  k: number,
  meta: object,
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < pixels.length; i++) {
    const r = Math.floor(i / k),
      name = `${r}-${i % k}`;
    await sharp(Buffer.from(pixels[i]), { raw: { width: size, height: size, channels: 1 } })
      .png()
      .toFile(path.join(dir, `${name}.png`));
    fs.writeFileSync(
      path.join(dir, `${name}.json`),
      JSON.stringify(
        { prompt: reports[r].text, study_id: reports[r].studyId, prompt_index: r, sample_index: i % k, ...meta },
        null,
        2,
      ) + '\n',
    );
  }
}

export async function runEval(a: EvalArgs): Promise<void> {
  configureEngine(a.precision, a.device);
  if (fs.existsSync(a.out) && fs.readdirSync(a.out).length > 0 && !a.overwrite) {
    throw new UserError(`${a.out} is not empty: choose another --out, or add --overwrite (nothing was written)`);
  }
  const root = a.data ?? (await embeddedDataset(a.synthStudies, 0));
  const all = loadReports(root, a.split);
  if (all.length < a.reports)
    throw new UserError(
      `${root}: the ${a.split} split has ${all.length} reports with text; --reports ${a.reports} needs that many`,
    );
  const reports = all.slice(0, a.reports);
  const labels = reports.map((r) => r.labels);

  const needScores = ['posture', 'auroc', 'consistency'].some((m) => a.metrics.has(m as Metric));
  const needFeatures = a.metrics.has('fid') || a.metrics.has('kid');
  const defaults =
    (needScores && !a.rewards?.length) || (needFeatures && !a.features) ? await defaultRewardModels(root) : null;
  const scorer = needScores ? await RewardScorer.open(a.rewards?.length ? a.rewards : [defaults!], a.device) : null;
  let features: ImageRewardModel | null = null;
  if (needFeatures) {
    const file = a.features ?? classifierFeaturesFile(path.join(defaults!, 'classifier.onnx'));
    const kind = readContract(file).kind;
    if (kind !== 'features')
      throw new UserError(`${file}: a ${kind} model; --features needs a model whose contract has kind "features"`);
    features = await ImageRewardModel.open(file, a.device);
  }
  const embed = async (x: Float32Array, n: number, size: number) => {
    const e = (await features!.run(x, n, size)).embedding;
    return { data: e.data, dim: e.width };
  };

  // Open every model before the long work, so a bad path fails at once.
  const loaded = [];
  for (const spec of a.models)
    loaded.push({ spec, gen: spec.images ? null : await loadGenerator(spec.path, { device: a.device }) });
  const first = loaded.find((m) => m.gen);
  const size = first?.gen ? squareSide(first.gen.decoder, first.spec.path) : 64;
  fs.mkdirSync(a.out, { recursive: true });

  let real: RealFeatures | null = null,
    floor: ReturnType<typeof realFloor> | null = null;
  if (features) {
    const records = loadMimic({ root, splits: [a.split] }).records;
    const picked = new Rng(a.generation.seed + 99).shuffle(records.slice()).slice(0, a.realImages);
    const loader = cachedImageLoader(root, size);
    const bar = new Progress(`real ${a.split} images`, picked.length, 'images');
    const px: Uint8Array[] = [];
    for (const r of picked) {
      const p = await loader.load(r);
      if (p) px.push(p);
      bar.update(px.length);
    }
    if (px.length < 4)
      throw new UserError(`${root}: only ${px.length} readable real images in the ${a.split} split; FID needs more`);
    const e = await embed(toGeneratorRange(px, size), px.length, size);
    real = { features: e.data, n: px.length, dim: e.dim };
    floor = realFloor(real, a.generation.seed);
  }

  const rows: {
    name: string;
    source: string;
    sha256?: string;
    metrics: ReturnType<typeof computeMetrics>;
    seconds: number;
  }[] = [];
  const k = a.perReport;
  const prompts = reports.flatMap((r) => Array.from({ length: k }, () => r.text));
  for (const { spec, gen } of loaded) {
    const t0 = Date.now();
    let pixels: Uint8Array[];
    if (gen) {
      if (squareSide(gen.decoder, spec.path) !== size)
        throw new UserError(
          `${spec.path}: images of ${gen.decoder.height} px, the other models' ${size} px; compare models of one size`,
        );
      const g = a.generation,
        chunks = Math.ceil(prompts.length / a.batchSize);
      const bar = new Progress(`eval ${spec.name}: generating`, chunks * g.steps, 'steps');
      pixels = [];
      for (let c = 0; c < chunks; c++) {
        const part = prompts.slice(c * a.batchSize, (c + 1) * a.batchSize);
        pixels.push(
          ...(await generateImages(gen, part, { ...g, seed: g.seed + c }, (d) => bar.update(c * g.steps + d))),
        );
      }
    } else pixels = await readImageFolder(spec.path, reports, k, size);
    const x = toGeneratorRange(pixels, size),
      n = pixels.length;
    const scored = scorer
      ? await scorer.scoreGenerated(
          x,
          n,
          size,
          prompts,
          prompts.map((_, i) => labels[Math.floor(i / k)]),
        )
      : null;
    const scores = scored?.perImage ?? null;
    const probs = a.metrics.has('auroc') ? (scored?.probabilities ?? null) : null;
    const f = features ? await embed(x, n, size) : null;
    const m: ModelImages = {
      reports: reports.length,
      perReport: k,
      size,
      pixels,
      rAlign: scores && scorer!.posture ? scores.map((s) => s.r_align) : null,
      sCons: scores && scorer!.consistency ? scores.map((s) => s.s_cons) : null,
      probabilities: probs,
      features: f?.data ?? null,
      featureDim: f?.dim ?? 0,
    };
    console.error(`eval ${spec.name}: computing metrics`);
    const metrics = computeMetrics(m, labels, real, a.metrics, a.bootstrap, a.generation.seed);
    if (a.keepImages) {
      await writeImages(path.join(a.out, 'images', spec.name), pixels, size, reports, k, {
        model: spec.name,
        source: path.resolve(spec.path),
        ...a.generation,
        batch_size: a.batchSize,
      });
    }
    rows.push({
      name: spec.name,
      source: spec.images ? `images:${path.resolve(spec.path)}` : path.resolve(spec.path),
      sha256: gen ? fileSha256(gen.weightsFile) : undefined,
      metrics,
      seconds: (Date.now() - t0) / 1000,
    });
  }

  const result = {
    format: 'cxrl-eval',
    version: 1,
    data: root,
    split: a.split,
    reports: reports.map((r) => r.studyId),
    n_per_report: k,
    generation: a.generation,
    batch_size: a.batchSize,
    bootstrap: a.bootstrap,
    metrics: [...a.metrics],
    features: features ? { file: path.resolve(features.file), real_images: real!.n, dim: real!.dim } : null,
    real_vs_real: floor
      ? { fid: floor.fid, kid: floor.kid.mean, kid_se: floor.kid.se, images_per_half: floor.n }
      : null,
    models: rows,
  };
  fs.writeFileSync(path.join(a.out, 'eval.json'), JSON.stringify(result, null, 2) + '\n');
  const md = markdownTable(rows, [...a.metrics], floor, {
    split: a.split,
    reports: reports.length,
    perReport: k,
    generation: a.generation,
  });
  fs.writeFileSync(path.join(a.out, 'eval.md'), md);
  for (const metric of a.metrics) {
    const svg = barChartSvg(
      metric,
      rows.map((r) => ({
        name: r.name,
        value: r.metrics[metric]?.value ?? null,
        interval: r.metrics[metric]?.interval ?? null,
      })),
      metric === 'fid' ? (floor?.fid ?? null) : metric === 'kid' ? (floor?.kid.mean ?? null) : null,
    );
    await sharp(Buffer.from(svg))
      .png()
      .toFile(path.join(a.out, `${metric}.png`));
  }
  console.log(md);
}
