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
import { describePeak, measureCpuPeak } from './cpu-peak';
import { unetForwardFlops } from './unet-flops';

const CASES: [string, number][] = [
  ['tiny', 8],
  ['small', 8],
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
  const peak = measureCpuPeak(2);
  const f = (v: unknown) => (typeof v === 'number' ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : String(v));
  console.log(
    `machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${new Date().toISOString().slice(0, 10)}`,
  );
  console.log(
    `fp32 peak of this machine: ${describePeak(peak)}; ` +
      'GFLOP/s from the forward FLOPs of bench/unet-flops.ts (training step: 3x the forward)',
  );
  console.log(
    '| preset | engine | batch | params | fwd ms/img (B=1) | fwd ms/img (batched) | fwd GFLOP/s (% peak) | fwd+bwd+AdamW ms/batch | train GFLOP/s (% peak) | peak RSS MiB |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const flops = unetForwardFlops(PRESETS[r.preset as string], 1, 16);
    const fwdG = flops / (Number(r.forward_ms_per_image_batched) * 1e6);
    const trainG = (3 * flops * Number(r.batch)) / (Number(r.train_step_ms) * 1e6);
    const pct = (g: number) => `${g.toFixed(1)} (${((100 * g) / peak.gflops).toFixed(0)}%)`;
    console.log(
      `| ${r.preset} | ${r.engine} | ${r.batch} | ${r.params} | ${f(r.forward_ms_per_image_b1)} | ${f(r.forward_ms_per_image_batched)} | ${pct(fwdG)} | ${f(r.train_step_ms)} | ${pct(trainG)} | ${f(r.peak_rss_mib)} |`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
