/**
 * One UNet benchmark in this process: inference-mode forward per image (batch 1 and batch B), and
 * forward + backward + AdamW step per batch, then the peak resident memory. Prints one JSON line.
 * usage: node dist/bench/unet-bench.js <preset> <batch> <iters>
 */
import * as fs from 'fs';
import { createUNet } from '../src/engine/unet';
import { loadAddon } from '../src/engine/native';
import { PRESETS } from '../src/engine/unet-config';
import { Rng } from '../src/util/random';

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function timeIt(iters: number, fn: () => void): number {
  fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e9 / iters;
}

function main() {
  const [preset = 'tiny', batchArg = '8', itersArg = '3'] = process.argv.slice(2);
  const cfg = PRESETS[preset];
  const batch = Number(batchArg),
    iters = Number(itersArg);
  const addon = loadAddon();
  const unet = createUNet(cfg, 0);
  const opt = new addon.Optimizer(unet, { lr: 1e-4, weightDecay: 1e-2 });
  const rng = new Rng(1);
  const S = cfg.sample_size,
    L = 16,
    D = cfg.cross_attention_dim;
  const inputs = (b: number) => ({
    sample: { data: rng.normals(b * cfg.in_channels * S * S), shape: [b, cfg.in_channels, S, S] },
    timestep: { data: new Float32Array(b).fill(500), shape: [b] },
    encoderHiddenStates: { data: rng.normals(b * L * D), shape: [b, L, D] },
  });
  const one = inputs(1),
    many = inputs(batch);
  // Forward timings in inference mode (what sampling runs; PyTorch's side runs under no_grad).
  const fwd1 = timeIt(iters, () => unet.forward({ ...one, inference: true }));
  const fwdB = timeIt(iters, () => unet.forward({ ...many, inference: true })) / batch;
  const train = timeIt(iters, () => {
    unet.zeroGrad();
    const y = unet.forward(many);
    unet.backward(y);
    opt.clipGradNorm(1.0);
    opt.step();
  });
  const info = addon.info();
  console.log(
    JSON.stringify({
      engine: `cxrl-native (${info.gemm}, ${info.threads} threads)`,
      preset,
      batch,
      params: unet.numParams(),
      forward_ms_per_image_b1: fwd1 * 1e3,
      forward_ms_per_image_batched: fwdB * 1e3,
      train_step_ms: train * 1e3,
      peak_rss_mib: peakRssMiB(),
    }),
  );
}

main();
