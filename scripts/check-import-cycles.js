#!/usr/bin/env node
// Fails when the TypeScript sources import each other in a cycle (type-only imports included:
// they couple modules as much for a reader). Usage: node scripts/check-import-cycles.js [dir...]
'use strict';
const fs = require('fs');
const path = require('path');

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['src', 'bench'];
const files = [];
const walk = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) files.push(path.resolve(p));
  }
};
roots.filter((r) => fs.existsSync(r)).forEach(walk);

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]/g;
const graph = new Map();
for (const f of files) {
  const src = fs.readFileSync(f, 'utf8');
  const deps = new Set();
  for (const m of src.matchAll(IMPORT)) {
    const base = path.resolve(path.dirname(f), m[1]);
    const target = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => fs.existsSync(c));
    if (target) deps.add(target);
  }
  graph.set(f, [...deps]);
}

// Tarjan's strongly connected components: every component of more than one module is a cycle.
let index = 0;
const idx = new Map(),
  low = new Map(),
  stack = [],
  on = new Set(),
  cycles = [];
const strong = (v) => {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v) || []) {
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || (graph.get(v) || []).includes(v)) cycles.push(comp);
  }
};
for (const f of files) if (!idx.has(f)) strong(f);

const rel = (f) => path.relative(process.cwd(), f);
if (cycles.length) {
  console.error(`import cycles among ${files.length} modules:`);
  for (const c of cycles) console.error(`  ${c.map(rel).sort().join(' <-> ')}`);
  process.exit(1);
}
console.log(`no import cycles among ${files.length} modules`);
