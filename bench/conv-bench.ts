/**
 * One convolution layer's forward, the direct kernel (what conv2d_forward runs for stride 1)
 * against im2col + GEMM on the same tensors: the 3x3 layers of the presets and of SD v1.x's UNet.
 * Alternating runs; the best of `rounds` for each. Prints a Markdown table.
 * usage: node dist/bench/conv-bench.js [rounds]
 */
import { loadAddon } from '../src/engine/native';
import { describePeak, measureCpuPeak } from './cpu-peak';

// [label, batch, in channels, out channels, image size]
const LAYERS: [string, number, number, number, number][] = [
  ['small/tiny 64x64', 32, 32, 32, 64],
  ['small up path 64x64', 32, 64, 32, 64],
  ['small 32x32', 32, 64, 64, 32],
  ['small 16x16', 32, 96, 96, 16],
  ['small 8x8', 32, 96, 96, 8],
  ['mid 128x128', 4, 128, 128, 128],
  ['mid 32x32', 4, 256, 256, 32],
  ['SD 64x64 latents', 2, 320, 320, 64],
  ['SD 32x32', 2, 640, 640, 32],
  ['SD 8x8', 2, 1280, 1280, 8],
];

function main() {
  const rounds = Number(process.argv[2] ?? '3');
  const addon = loadAddon();
  const peak = measureCpuPeak(1);
  console.log(
    `engine: ${addon.info().convKernel} direct kernel, ${addon.info().threads} threads; fp32 peak ${describePeak(peak)}`,
  );
  console.log('| layer | batch x in -> out | im2col + GEMM ms | direct ms | direct GFLOP/s (% peak) | speed-up |');
  console.log('|---|---|---|---|---|---|');
  for (const [label, batch, cin, cout, size] of LAYERS) {
    const flops = 2 * batch * cin * cout * 9 * size * size;
    const iters = Math.max(1, Math.round(2e9 / flops));
    const best = { direct: Infinity, im2col: Infinity };
    for (let r = 0; r < rounds; r++)
      for (const kernel of ['im2col', 'direct'] as const)
        best[kernel] = Math.min(best[kernel], addon.bench.conv2dForward({ batch, cin, cout, size, kernel, iters }));
    const gflops = flops / best.direct / 1e9;
    console.log(
      `| ${label} | ${batch} x ${cin} -> ${cout} | ${(best.im2col * 1e3).toFixed(2)} | ${(best.direct * 1e3).toFixed(2)} | ` +
        `${gflops.toFixed(1)} (${((100 * gflops) / peak.gflops).toFixed(0)}%) | ${(best.im2col / best.direct).toFixed(2)} |`,
    );
  }
}

main();
