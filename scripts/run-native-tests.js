#!/usr/bin/env node
// Runs the C++ engine tests (finite-difference checks of every op, GEMM parity, optimizer,
// safetensors, UNet gradients, leak check) once with each GEMM backend the build has.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const bin = path.join(__dirname, '..', 'build', 'tests', 'cxrl_engine_tests');
if (!fs.existsSync(bin)) {
  console.error(`native tests: ${bin} is missing; build first (npm run build:native)`);
  process.exit(1);
}
// [label, environment, the backend the run must report]
const runs = [
  ['builtin GEMM', { CXRL_GEMM: 'builtin' }, 'builtin'],
  ['default GEMM (OpenBLAS when compiled in)', {}, null],
];
let failed = false;
for (const [label, env, expected] of runs) {
  console.log(`\n=== C++ engine tests, ${label} ===`);
  const r = spawnSync(bin, [], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(r.stdout);
  if (r.status !== 0) failed = true;
  const used = /^gemm backend: (\w+)$/m.exec(r.stdout || '');
  if (expected && (!used || used[1] !== expected)) {
    console.error(`native tests: the ${label} run used ${used ? used[1] : 'an unreported'} GEMM backend`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
