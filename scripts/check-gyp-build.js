#!/usr/bin/env node
// Proves the binding.gyp (node-gyp, CPU-only, no OpenBLAS) build of the same engine sources works:
// builds it in a scratch copy, loads it, and checks its UNet output equals the cmake-js build's
// (both with the built-in GEMM, same weights and inputs).
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cxrl-gyp-'));
for (const item of ['binding.gyp', 'package.json', 'native'])
  fs.cpSync(path.join(root, item), path.join(scratch, item), { recursive: true });
fs.symlinkSync(path.join(root, 'node_modules'), path.join(scratch, 'node_modules'));
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js', {
  paths: [root, path.dirname(process.execPath) + '/../lib/node_modules/npm'],
});
console.log(`node-gyp build in ${scratch}`);
// Offline: point node-gyp at the installed Node headers (npm's own config does this for npm runs).
const guess = path.resolve(path.dirname(process.execPath), '..');
const nodedir =
  process.env.npm_config_nodedir || (fs.existsSync(path.join(guess, 'include', 'node', 'node_api.h')) ? guess : null);
const args = [nodeGyp, 'rebuild', `--jobs=${os.cpus().length}`];
if (nodedir) args.push(`--nodedir=${nodedir}`);
execFileSync(process.execPath, args, { cwd: scratch, stdio: 'inherit' });

const gyp = require(path.join(scratch, 'build', 'Release', 'cxrl_native.node'));
const cmake = require(path.join(root, 'build', 'Release', 'cxrl_native.node'));
const gi = gyp.info();
if (gi.openblasAvailable || gi.cuda.compiled) throw new Error('the node-gyp build should be CPU-only without OpenBLAS');
cmake.setGemmBackend('builtin');
const cfg = JSON.stringify({
  in_channels: 1,
  out_channels: 1,
  sample_size: 16,
  block_out_channels: [16, 32],
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 1,
  attention_head_dim: 2,
  cross_attention_dim: 8,
  norm_num_groups: 8,
});
const a = new gyp.UNet(cfg, 3),
  b = new cmake.UNet(cfg, 3);
const input = {
  sample: { data: Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)), shape: [1, 1, 16, 16] },
  timestep: { data: Float32Array.from([250]), shape: [1] },
  encoderHiddenStates: { data: Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)), shape: [1, 3, 8] },
};
const ya = a.forward(input).data,
  yb = b.forward(input).data;
let maxDiff = 0;
for (let i = 0; i < ya.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ya[i] - yb[i]));
console.log(`node-gyp build: ${a.numParams()} params, output max |diff| vs cmake-js build ${maxDiff.toExponential(2)}`);
fs.rmSync(scratch, { recursive: true, force: true });
if (!(maxDiff < 1e-5)) {
  console.error('node-gyp and cmake-js builds disagree');
  process.exit(1);
}
console.log('node-gyp build OK');
