#!/usr/bin/env node
// Renders one synthetic frontal image per finding, picked by label, from a dataset made by
// `cxrl-native data synth`, as a grid (the README's docs/synthetic-grid.png was made with it).
// usage: node scripts/make-synthetic-grid.js DATASET_ROOT --out FILE.png
'use strict';
const sharp = require('sharp');
const { loadMimic } = require('../dist/src/data/mimic');
const { CHEXPERT_LABELS } = require('../dist/src/data/labels');

async function main() {
  const [root, flag, out] = process.argv.slice(2);
  if (!root || flag !== '--out' || !out) {
    console.error('usage: node scripts/make-synthetic-grid.js DATASET_ROOT --out FILE.png');
    process.exit(2);
  }
  const records = loadMimic({ root }).records;
  const wanted = [
    'No Finding',
    'Cardiomegaly',
    'Pleural Effusion',
    'Pneumothorax',
    'Consolidation',
    'Edema',
    'Support Devices',
    'Atelectasis',
  ];
  const tiles = [];
  for (const label of wanted) {
    const k = CHEXPERT_LABELS.indexOf(label);
    const rec =
      records.find((r) => r.labels[k] === 1 && r.view === 'PA' && !tiles.some((t) => t.rec === r)) ??
      records.find((r) => r.labels[k] === 1);
    if (!rec) continue;
    const img = await sharp(rec.imageFile).resize(192, 192, { fit: 'cover' }).png().toBuffer();
    tiles.push({ rec, label, img });
  }
  const composite = tiles
    .map((t, i) => ({ input: t.img, left: (i % 4) * 196, top: Math.floor(i / 4) * 216 + 20 }))
    .concat(
      tiles.map((t, i) => ({
        input: Buffer.from(
          `<svg width="192" height="20"><text x="2" y="15" font-family="sans-serif" font-size="13" fill="white">${t.label}</text></svg>`,
        ),
        left: (i % 4) * 196,
        top: Math.floor(i / 4) * 216,
      })),
    );
  await sharp({ create: { width: 4 * 196, height: 2 * 216, channels: 3, background: '#000' } })
    .composite(composite)
    .png()
    .toFile(out);
  console.log(`wrote ${out}`);
}
main();
