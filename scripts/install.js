#!/usr/bin/env node
// npm's install step for this package (an explicit script, so npm never runs its implicit
// `node-gyp rebuild` over the primary build). Builds the native engine once:
//   1. cmake-js (CMakeLists.txt): OpenBLAS when CMake finds it, CUDA kernels when nvcc is on PATH;
//   2. if that fails (no CMake, say), node-gyp (binding.gyp): CPU-only, built-in GEMM.
// An existing build/Release/cxrl_native.node is kept (CXRL_REBUILD=1 rebuilds). The engine that
// results is printed; `cxrl-native info` shows it again later.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const addon = path.join(root, 'build', 'Release', 'cxrl_native.node');

function describe() {
  const info = require(addon).info();
  return `GEMM ${info.gemm}, backends ${info.backends.join('+')}`;
}

function run(cmd, args) {
  console.error(`cxrl-native install: ${path.basename(cmd)} ${args.join(' ')}`);
  return spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status === 0;
}

function resolveBin(request) {
  try {
    return require.resolve(request, { paths: [root] });
  } catch {
    return null;
  }
}

if (fs.existsSync(addon) && process.env.CXRL_REBUILD !== '1') {
  console.error(`cxrl-native install: keeping the existing engine build (${describe()}); CXRL_REBUILD=1 rebuilds`);
  process.exit(0);
}
const cmakeJs = resolveBin('cmake-js/bin/cmake-js');
if (cmakeJs && run(process.execPath, [cmakeJs, 'compile', '--out', 'build'])) {
  console.error(`cxrl-native install: built with cmake-js (${describe()})`);
  process.exit(0);
}
// npm sets npm_config_node_gyp to its bundled node-gyp.
const nodeGyp = process.env.npm_config_node_gyp || resolveBin('node-gyp/bin/node-gyp.js');
if (nodeGyp && run(process.execPath, [nodeGyp, 'rebuild'])) {
  console.error(
    `cxrl-native install: cmake-js failed; built the CPU-only fallback with node-gyp (${describe()}). ` +
      'Install CMake and libopenblas-dev and run `CXRL_REBUILD=1 npm rebuild cxrl-native` for the faster engine.',
  );
  process.exit(0);
}
console.error(
  'cxrl-native install: could not build the native engine (neither cmake-js nor node-gyp succeeded); see the output above',
);
process.exit(1);
