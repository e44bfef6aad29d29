/**
 * The fused DDIM step + log-prob against the same math as separate full-array passes (the way an
 * eager framework runs it), in one run, and both against a threaded memcpy of the same bytes.
 * On a machine with a usable CUDA device, also the CUDA kernel against a device-to-device copy.
 * usage: node dist/bench/step-bench.js
 */
import * as os from 'os';
import { loadAddon } from '../src/engine/native';

const CASES = [
  { label: 'B=8, 1x64x64, guided, Philox noise', batch: 8, perSample: 4096, guidance: true, source: 'seeded' },
  {
    label: 'B=16, 4x64x64 (SD latents), guided, given x_prev',
    batch: 16,
    perSample: 16384,
    guidance: true,
    source: 'prev',
  },
  { label: 'B=32, 1x256x256, guided, given x_prev', batch: 32, perSample: 65536, guidance: true, source: 'prev' },
  { label: 'B=64, 1x512x512, unguided, Philox noise', batch: 64, perSample: 262144, guidance: false, source: 'seeded' },
];

function main() {
  const addon = loadAddon();
  const info = addon.info();
  console.log(
    `machine: ${os.cpus()[0].model}, ${os.cpus().length} cores; ${info.threads} engine threads; ${new Date().toISOString().slice(0, 10)}`,
  );
  console.log(
    '| case | elements | bytes/elem (fused) | fused ms | unfused ms | speed-up | fused GB/s | memcpy GB/s | fused / memcpy |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const c of CASES) {
    const n = c.batch * c.perSample;
    const iters = Math.max(3, Math.min(50, Math.floor(2e8 / n)));
    const t = addon.bench.ddimStepCpu({ ...c, iters });
    const gbs = t.bytesMoved / t.fusedSeconds / 1e9,
      copy = t.bytesMoved / t.copySeconds / 1e9;
    console.log(
      `| CPU ${c.label} | ${n} | ${t.bytesMoved / n} | ${(t.fusedSeconds * 1e3).toFixed(2)} | ${(t.unfusedSeconds! * 1e3).toFixed(2)} | ` +
        `${(t.unfusedSeconds! / t.fusedSeconds).toFixed(1)}x | ${gbs.toFixed(1)} | ${copy.toFixed(1)} | ${((100 * gbs) / copy).toFixed(0)}% |`,
    );
  }
  if (!info.cuda.usable) {
    console.log(`\nCUDA: not measured (${info.cuda.reason})`);
    return;
  }
  console.log(`\nCUDA device: ${info.cuda.deviceName}`);
  console.log('| case | elements | bytes/elem | fused us | fused GB/s | D2D copy GB/s | fused / copy |');
  console.log('|---|---|---|---|---|---|---|');
  for (const c of CASES) {
    const n = c.batch * c.perSample;
    const t = addon.bench.ddimStepCuda({ ...c, iters: 50 });
    const gbs = t.bytesMoved / t.fusedSeconds / 1e9,
      copy = t.bytesMoved / t.copySeconds / 1e9;
    console.log(
      `| CUDA ${c.label} | ${n} | ${t.bytesMoved / n} | ${(t.fusedSeconds * 1e6).toFixed(1)} | ${gbs.toFixed(0)} | ${copy.toFixed(0)} | ${((100 * gbs) / copy).toFixed(0)}% |`,
    );
  }
}

main();
