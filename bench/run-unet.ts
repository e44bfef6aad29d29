/**
 * Runs the UNet benchmark for each preset in cxrl-native and in PyTorch on the same machine, in
 * one run, each in a fresh process (so peak memory is its own), and prints a Markdown table.
 * usage: node dist/bench/run-unet.js [iters]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createUNet } from '../src/engine/unet';
import { PRESETS } from '../src/engine/unet-config';
import { projectRoot } from '../src/util/paths';

const CASES: [string, number][] = [
  ['tiny', 8],
  ['mid', 4],
];

function main() {
  const iters = process.argv[2] ?? '3';
  const root = projectRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cxrl-bench-'));
  const rows: Record<string, number | string>[] = [];
  for (const [preset, batch] of CASES) {
    const cfgFile = path.join(dir, `${preset}.json`),
      weights = path.join(dir, `${preset}.safetensors`);
    fs.writeFileSync(cfgFile, JSON.stringify(PRESETS[preset]));
    createUNet(PRESETS[preset], 0).saveWeights(weights);
    const ours = execFileSync(
      process.execPath,
      [path.join(root, 'dist', 'bench', 'unet-bench.js'), preset, String(batch), iters],
      { encoding: 'utf8' },
    );
    rows.push(JSON.parse(ours.trim().split('\n').pop()!));
    const theirs = execFileSync(
      '/usr/bin/python3',
      [path.join(root, 'bench', 'unet_bench_torch.py'), cfgFile, weights, String(batch), iters],
      { encoding: 'utf8' },
    );
    rows.push({ ...JSON.parse(theirs.trim().split('\n').pop()!), preset });
  }
  const f = (v: unknown) => (typeof v === 'number' ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : String(v));
  console.log(
    `machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${new Date().toISOString().slice(0, 10)}`,
  );
  console.log(
    '| preset | engine | batch | params | fwd ms/img (B=1) | fwd ms/img (batched) | fwd+bwd+AdamW ms/batch | peak RSS MiB |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.preset} | ${r.engine} | ${r.batch} | ${r.params} | ${f(r.forward_ms_per_image_b1)} | ${f(r.forward_ms_per_image_batched)} | ${f(r.train_step_ms)} | ${f(r.peak_rss_mib)} |`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
