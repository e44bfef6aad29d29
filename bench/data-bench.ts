/**
 * Data-loading benchmark: (1) the metadata, split and CheXpert tables at the full dataset's size
 * (377,110 image rows, 227,835 studies; synthetic rows in the real format, no images) parsed and
 * joined, with time and peak memory; (2) the image pipeline (decode, grayscale, resize + centre
 * crop) on the default synthetic size and on full-resolution 3056x2544 JPEGs, cold and cached.
 * usage: node dist/bench/data-bench.js
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { writeCsv } from '../src/data/csv';
import { batches, ImageLoader } from '../src/data/images';
import { CHEXPERT_LABELS } from '../src/data/labels';
import { loadMimic } from '../src/data/mimic';
import { renderPhantom } from '../src/data/phantom';
import { LABEL_HEADER, METADATA_HEADER, SPLIT_HEADER, synthesizeDataset } from '../src/data/synth';
import { Rng } from '../src/util/random';
import { randomDicomId } from '../src/data/ids';

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function writeFullSizeTables(dir: string): void {
  const rng = new Rng(1);
  const meta: string[][] = [],
    split: string[][] = [],
    labels: string[][] = [];
  const views = ['AP', 'PA', 'LATERAL', 'LL', ''];
  let study = 50000000,
    subject = 10000000;
  while (meta.length < 377110) {
    subject += 1 + rng.int(0, 30);
    for (let s = 0; s < 1 + rng.int(0, 2) && meta.length < 377110; s++) {
      study += 1 + rng.int(0, 20);
      if (labels.length < 227835)
        labels.push([
          String(subject),
          String(study),
          ...CHEXPERT_LABELS.map(() => ['', '1.0', '0.0', '-1.0'][rng.int(0, 3)]),
        ]);
      for (let i = 0; i < 1 + rng.int(0, 2) && meta.length < 377110; i++) {
        const d = randomDicomId(rng);
        meta.push([
          d,
          String(subject),
          String(study),
          'CHEST (PA AND LAT)',
          views[rng.int(0, 4)],
          '3056',
          '2544',
          '21800506',
          '213014.531',
          'CHEST (PA AND LAT)',
          'postero-anterior',
          'Erect',
        ]);
        split.push([d, String(study), String(subject), 'train']);
      }
    }
  }
  writeCsv(path.join(dir, 'mimic-cxr-2.0.0-metadata.csv.gz'), METADATA_HEADER, meta);
  writeCsv(path.join(dir, 'mimic-cxr-2.0.0-split.csv.gz'), SPLIT_HEADER, split);
  writeCsv(path.join(dir, 'mimic-cxr-2.0.0-chexpert.csv.gz'), LABEL_HEADER, labels);
}

async function pipelineRate(
  records: ReturnType<typeof loadMimic>['records'],
  size: number,
  cache: string | null,
): Promise<number> {
  const loader = new ImageLoader({ size }, cache);
  const t0 = Date.now();
  let n = 0;
  for await (const b of batches(records, loader, { batchSize: 16, seed: 0, epoch: 0 })) n += b.records.length;
  return n / ((Date.now() - t0) / 1000);
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cxrl-data-bench-'));
  writeFullSizeTables(dir);
  const rssBefore = peakRssMiB();
  const t0 = Date.now();
  const r = loadMimic({ root: dir, views: [], skipReports: true });
  const secs = (Date.now() - t0) / 1000;
  console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores; ${new Date().toISOString().slice(0, 10)}`);
  console.log(
    `| tables (377,110 image rows, 227,835 label rows, gzipped) | parse + join s | records | peak RSS MiB (before -> after) |`,
  );
  console.log(`|---|---|---|---|`);
  console.log(
    `| metadata + split + chexpert | ${secs.toFixed(2)} | ${r.records.length} | ${rssBefore.toFixed(0)} -> ${peakRssMiB().toFixed(0)} |`,
  );

  const synth = path.join(dir, 'synth');
  await synthesizeDataset({ out: synth, studies: 300, seed: 1, size: 256 });
  const recs = loadMimic({ root: synth }).records;
  const big = path.join(dir, 'big');
  fs.mkdirSync(big);
  const bigRecs = recs.slice(0, 24).map((rec, k) => {
    const px = renderPhantom({
      width: 2544,
      height: 3056,
      seed: k,
      view: 'PA',
      pose: { scaleX: 1, scaleY: 1, shiftX: 0, shiftY: 0, rotation: 0 },
      heartRatio: 0.45,
      mediastinumWidth: 0.12,
      effusion: [0, 0],
      pneumothorax: [0, 0],
      atelectasis: [0, 0],
      consolidation: 0,
      consolidationSide: 0,
      edema: 0,
      nodule: 0,
      pleuralThickening: 0,
      devices: 0,
      fracturedRib: -1,
      fracturedSide: 0,
    });
    const f = path.join(big, `${k}.jpg`);
    return { ...rec, dicomId: `big${k}`, imageFile: f, px };
  });
  for (const b of bigRecs)
    await sharp(Buffer.from(b.px), { raw: { width: 2544, height: 3056, channels: 1 } })
      .toColourspace('b-w')
      .jpeg({ quality: 95 })
      .toFile(b.imageFile);
  console.log(`\n| image pipeline (decode, grayscale, resize shorter side + centre crop) | images/s |`);
  console.log(`|---|---|`);
  for (const size of [64, 256]) {
    const cache = path.join(dir, `cache${size}`);
    console.log(
      `| synthetic ${recs.length} JPEGs (256 px tall) -> ${size}, cold | ${(await pipelineRate(recs, size, cache)).toFixed(0)} |`,
    );
    console.log(`| same, second epoch from the cache | ${(await pipelineRate(recs, size, cache)).toFixed(0)} |`);
  }
  console.log(
    `| 24 full-resolution 3056x2544 JPEGs -> 256, cold | ${(await pipelineRate(bigRecs, 256, null)).toFixed(1)} |`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

void main();
