#!/usr/bin/env node
// clang-format over native/ (C++ and CUDA): checks by default, rewrites with --fix.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const files = [];
const walk = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(cc|h|inc|cu|cuh)$/.test(e.name)) files.push(path.relative(root, p));
  }
};
walk(path.join(root, 'native'));
const fix = process.argv.includes('--fix');
const r = spawnSync('clang-format', fix ? ['-i', ...files] : ['--dry-run', '--Werror', ...files], {
  cwd: root,
  stdio: 'inherit',
});
if (r.error) {
  console.error('clang-format is not installed (Debian: apt-get install clang-format; scripts/setup.sh installs it)');
  process.exit(2);
}
if (r.status !== 0) {
  console.error(`clang-format: native/ is not formatted; run npm run format`);
  process.exit(r.status);
}
console.log(`clang-format: ${files.length} files ${fix ? 'formatted' : 'clean'}`);
