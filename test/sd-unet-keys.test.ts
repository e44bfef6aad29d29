/**
 * The engine's UNet parameter names and shapes against diffusers' UNet2DConditionModel as written
 * from the public diffusers source (test/reference/diffusers_unet_keys.py), for Stable Diffusion
 * v1.x's published UNet config (test/reference/sd-v1-unet-config.json) and a linear-projection
 * (SD 2.x-style) variant. The engine's checkpoints use these names, so real weights load by name.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runPython, tmpDir } from './helpers';

const ROOT = path.resolve(__dirname, '..');
const SD_CONFIG = path.join(ROOT, 'test', 'reference', 'sd-v1-unet-config.json');

/** name -> shape of the UNet the engine builds for a config, in a child process (SD v1.x needs ~7 GB). */
function engineKeys(configFile: string): Record<string, number[]> {
  const script = `
    const { loadAddon } = require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'engine', 'native.js'))});
    const unet = new (loadAddon().UNet)(require('fs').readFileSync(process.argv[1], 'utf8'), 0);
    const out = {};
    for (const p of unet.paramInfo()) out[p.name] = p.shape;
    process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['-e', script, configFile], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`engine UNet for ${configFile} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function compare(engine: Record<string, number[]>, diffusers: Record<string, number[]>) {
  const missing = Object.keys(diffusers).filter((k) => !(k in engine));
  const extra = Object.keys(engine).filter((k) => !(k in diffusers));
  const wrongShape = Object.keys(diffusers).filter(
    (k) => k in engine && engine[k].join(',') !== diffusers[k].join(','),
  );
  return { missing, extra, wrongShape };
}

test('Stable Diffusion v1.x: every diffusers key with its shape, nothing else (859,520,964 parameters)', () => {
  const diffusers = JSON.parse(runPython('diffusers_unet_keys.py', [SD_CONFIG])) as Record<string, number[]>;
  const total = Object.values(diffusers).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
  // The published parameter count of SD v1.x's UNet: the reference itself is checked first.
  expect(total).toBe(859_520_964);
  const engine = engineKeys(SD_CONFIG);
  const d = compare(engine, diffusers);
  console.log(
    `SD v1.x UNet: ${Object.keys(diffusers).length} diffusers keys; engine: ${d.missing.length} missing, ` +
      `${d.extra.length} extra, ${d.wrongShape.length} with another shape`,
  );
  expect(d).toEqual({ missing: [], extra: [], wrongShape: [] });
}, 120_000);

test('linear projections and per-block heads (SD 2.x-style layout, small widths)', () => {
  const dir = tmpDir('sd2-keys');
  const cfg = {
    ...JSON.parse(fs.readFileSync(SD_CONFIG, 'utf8')),
    block_out_channels: [32, 64, 64, 64],
    attention_head_dim: [2, 4, 4, 4],
    cross_attention_dim: 48,
    norm_num_groups: 16,
    use_linear_projection: true,
  };
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(cfg));
  const diffusers = JSON.parse(runPython('diffusers_unet_keys.py', [file])) as Record<string, number[]>;
  expect(compare(engineKeys(file), diffusers)).toEqual({ missing: [], extra: [], wrongShape: [] });
});
