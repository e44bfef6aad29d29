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
const runs = [
  ['builtin GEMM', { CXRL_GEMM: 'builtin' }],
  ['default GEMM (OpenBLAS when compiled in)', {}],
];
let failed = false;
for (const [label, env] of runs) {
  console.log(`\n=== C++ engine tests, ${label} ===`);
  const r = spawnSync(bin, [], { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
