/**
 * The fp32 peak the benchmarks' GFLOP/s figures are compared with, measured rather than derived
 * from a nominal clock: independent vector FMA chains on every engine thread (native
 * bench/fma_peak.cc), no memory traffic. On this project's machine (2 Zen 4 cores) it reads about
 * 232 GFLOP/s: 32 FLOP per cycle per core (one 512-bit or two 256-bit FMAs) at a 3.6-3.7 GHz boost
 * clock, well above the 166.4 a 2.6 GHz nominal clock gives.
 * usage: node dist/bench/cpu-peak.js [seconds]
 */
import { loadAddon } from '../src/engine/native';

export interface CpuPeak {
  gflops: number;
  threads: number;
  isa: string;
}

export function measureCpuPeak(seconds = 1): CpuPeak {
  const addon = loadAddon();
  const p = addon.bench.fmaPeak({ threads: addon.info().threads, seconds });
  return { gflops: p.gflops, threads: p.threads, isa: p.isa };
}

export function describePeak(p: CpuPeak): string {
  return `${p.gflops.toFixed(1)} GFLOP/s measured (${p.isa} FMA chains on ${p.threads} threads, bench/cpu-peak.ts)`;
}

if (require.main === module) {
  const seconds = Number(process.argv[2] ?? '2');
  console.log(`fp32 peak: ${describePeak(measureCpuPeak(seconds))}`);
}
