/**
 * The CLI's `--device cuda` paths against `--device cpu` on the same micro model: `generate` (text
 * encoder and UNet on the device, x_t kept there as engine handles between steps) and
 * `train --stage rl` (trajectories on the device, gathered per micro-batch, the policy step, AdamW,
 * ACE, the anchor, the held-out evaluation). Run by `npm run test:cuda` on a GPU machine, and in CI on
 * the emulated GPU (an addon built with -DCXRL_EMULATE_CUDA=ON, loaded through CXRL_ADDON:
 * scripts/run-emulated-cuda-tests.sh). A device computes in another order than the CPU, so results
 * are compared within bounds, not bit for bit.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { readSafetensors } from '../../src/io/safetensors';
import { CliFixture, makeCliFixture } from '../fixtures';
import { readMetrics } from '../helpers';

jest.setTimeout(900000);

let fx: CliFixture;

beforeAll(() => {
  fx = makeCliFixture('cuda-cli', { studies: 40, rewards: true });
});

async function pixels(file: string): Promise<Buffer> {
  return sharp(file).raw().toBuffer();
}

test('generate --device cuda draws what --device cpu draws', async () => {
  const out = (device: string) => path.join(fx.work, `gen-${device}`);
  for (const device of ['cpu', 'cuda'])
    fx.ok([
      'generate',
      '--checkpoint',
      fx.init,
      '--prompt',
      'Moderate cardiomegaly.',
      '--n',
      '2',
      '--steps',
      '3',
      '--seed',
      '5',
      '--device',
      device,
      '--out',
      out(device),
    ]);
  const images = fs.readdirSync(out('cpu')).filter((f) => f.endsWith('.png'));
  expect(images.length).toBe(2);
  for (const device of ['cpu', 'cuda']) {
    const sidecar = JSON.parse(fs.readFileSync(path.join(out(device), '0-0.json'), 'utf8'));
    expect(sidecar.device).toBe(device); // the UNet ran there: no silent CPU fallback
  }
  for (const image of images) {
    const cpu = await pixels(path.join(out('cpu'), image)),
      gpu = await pixels(path.join(out('cuda'), image));
    let worst = 0;
    for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(cpu[i] - gpu[i]));
    console.log(`generate ${image}: largest pixel difference cuda vs cpu ${worst} of 255`);
    expect(gpu.length).toBe(cpu.length);
    expect(worst).toBeLessThanOrEqual(2);
  }
});

/** The epoch line of metrics.jsonl without its timings. */
function epochMetrics(run: string): Record<string, unknown> {
  const line = readMetrics(run).find((m) => m.kind === 'epoch');
  if (!line) throw new Error(`${run}/metrics.jsonl has no epoch line`);
  const { seconds: _s, images_per_second: _i, ...rest } = line;
  return rest;
}

/** Every number of a (nested) metrics object, by its path. */
function numbers(o: unknown, prefix = ''): Map<string, number> {
  const out = new Map<string, number>();
  if (typeof o === 'number') out.set(prefix, o);
  else if (o && typeof o === 'object')
    for (const [k, v] of Object.entries(o)) for (const [p, n] of numbers(v, `${prefix}.${k}`)) out.set(p, n);
  return out;
}

test('train --stage rl --device cuda follows the CPU run', () => {
  const run = (device: string) => path.join(fx.work, `rl-${device}`);
  for (const device of ['cpu', 'cuda'])
    fx.ok([
      'train',
      '--stage',
      'rl',
      '--init',
      fx.init,
      '--rewards',
      fx.rewards,
      '--data',
      fx.data,
      '--out',
      run(device),
      '--prompts-per-epoch',
      '1',
      '--samples-per-prompt',
      '2',
      '--sample-steps',
      '2',
      '--train-batch-size',
      '2',
      '--eval-reports',
      '2',
      '--epochs',
      '1',
      '--device',
      device,
    ]);
  const cpu = epochMetrics(run('cpu')),
    gpu = epochMetrics(run('cuda'));
  expect(gpu.device_peak_mib).toBeGreaterThan(0); // the device's allocator was used
  const a = numbers(cpu),
    b = numbers(gpu);
  a.delete('.device_peak_mib');
  // Rewards, advantages' spread, gradient norm and ACE norm: the same run up to float rounding.
  for (const key of [
    '.policy.r_align',
    '.policy.s_diag',
    '.policy.s_cons',
    '.anchor.r_align',
    '.grad_norm',
    '.ace_norm',
  ])
    expect(a.has(key)).toBe(true);
  let worst = 0,
    worstKey = '';
  for (const [key, v] of a) {
    const e = Math.abs(v - (b.get(key) ?? NaN)) / Math.max(Math.abs(v), 1e-3);
    if (!(e <= worst)) {
      worst = e;
      worstKey = key;
    }
  }
  console.log(`rl epoch metrics cuda vs cpu: worst ${worstKey} ${worst.toExponential(2)}`);
  expect(worst).toBeLessThan(1e-3);
  // The policy after its update: each tensor within 1e-3 of its largest value (floored at 1% of the
  // network's largest, as a tensor that barely moved is float noise on both sides).
  const p = readSafetensors(path.join(run('cpu'), 'checkpoint', 'unet.safetensors')).tensors,
    q = readSafetensors(path.join(run('cuda'), 'checkpoint', 'unet.safetensors')).tensors;
  let global = 0;
  for (const t of Object.values(p)) for (const v of t.data) global = Math.max(global, Math.abs(v));
  let worstWeight = 0,
    worstName = '';
  for (const [name, t] of Object.entries(p)) {
    let d = 0,
      own = 0;
    for (let i = 0; i < t.data.length; i++) {
      d = Math.max(d, Math.abs(t.data[i] - q[name].data[i]));
      own = Math.max(own, Math.abs(t.data[i]));
    }
    const e = d / Math.max(own, 1e-2 * global);
    if (!(e <= worstWeight)) {
      worstWeight = e;
      worstName = name;
    }
  }
  console.log(`rl policy weights cuda vs cpu: worst ${worstName} ${worstWeight.toExponential(2)}`);
  expect(Object.keys(q).sort()).toEqual(Object.keys(p).sort());
  expect(worstWeight).toBeLessThan(1e-3);
});
