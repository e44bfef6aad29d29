/**
 * The DDIM schedule (`debug schedule`) against numpy computations of diffusers' DDIMScheduler
 * formulas: Stable Diffusion v1.x's config (scaled_linear 0.00085-0.012, steps_offset 1,
 * set_alpha_to_one false, leading spacing) at 10 and 50 steps, trailing and linspace spacing at
 * step counts whose timesteps fall on halves (numpy rounds them to even).
 */
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_SCHEDULER } from '../src/engine/scheduler';
import { IGNORED_SCHEDULER_KEYS, readDiffusersScheduler } from '../src/generation/diffusers-scheduler';
import { ROOT, runCli, runPython, tmpDir } from './helpers';

const CASES = [
  { config: {}, steps: 10 },
  { config: {}, steps: 50 },
  { config: { timestep_spacing: 'trailing' }, steps: 16 },
  { config: { timestep_spacing: 'trailing' }, steps: 7 },
  { config: { timestep_spacing: 'linspace' }, steps: 7 },
  { config: { timestep_spacing: 'linspace' }, steps: 25 },
  {
    config: { beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02, set_alpha_to_one: true, steps_offset: 0 },
    steps: 20,
  },
];

let dir: string;
beforeAll(() => (dir = tmpDir('schedule')));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("debug schedule matches numpy computations of diffusers' formulas", () => {
  const ref = JSON.parse(runPython('ddim_schedule_reference.py', [JSON.stringify(CASES)])) as {
    t: number;
    prev_t: number;
    alpha_bar_t: number;
    alpha_bar_prev: number;
  }[][];
  CASES.forEach((c, k) => {
    const file = path.join(dir, `scheduler-${k}.json`);
    fs.writeFileSync(file, JSON.stringify(c.config));
    const r = runCli(['debug', 'schedule', '--scheduler-config', file, '--steps', String(c.steps)]);
    expect(r.status).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((x) => x.t)).toEqual(ref[k].map((x) => x.t));
    expect(rows.map((x) => x.prev_t)).toEqual(ref[k].map((x) => x.prev_t));
    let worst = 0;
    rows.forEach((x, i) => {
      worst = Math.max(
        worst,
        Math.abs(x.alpha_bar_t - ref[k][i].alpha_bar_t) / ref[k][i].alpha_bar_t,
        Math.abs(x.alpha_bar_prev - ref[k][i].alpha_bar_prev) / ref[k][i].alpha_bar_prev,
      );
    });
    console.log(
      `${JSON.stringify(c.config)} x ${c.steps}: timesteps equal; alpha-bars max relative error ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(1e-12);
  });
  // The half-to-even cases the issue names.
  const trailing16 = ref[2].map((x) => x.t);
  expect(trailing16).toEqual(expect.arrayContaining([811, 561, 311]));
  expect(ref[4].map((x) => x.t)).toEqual(expect.arrayContaining([832, 166]));
});

test("debug schedule without a config uses Stable Diffusion v1.x's: 10 steps from 901", () => {
  const r = runCli(['debug', 'schedule', '--steps', '10']);
  expect(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).t),
  ).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  expect(runCli(['debug', 'step']).stderr).toMatch(/debug step needs --in FILE and --out FILE/);
});

test("scheduler_config.json keys: SD v1.x's published file is accepted key for key; the rest are used, fixed, ignored with a reason, or refused", () => {
  const sd = path.join(ROOT, 'test', 'reference', 'sd-v1-scheduler-config.json');
  expect(readDiffusersScheduler(sd)).toEqual(DEFAULT_SCHEDULER);
  for (const key of Object.keys(JSON.parse(fs.readFileSync(sd, 'utf8'))))
    expect(
      key.startsWith('_') || key in DEFAULT_SCHEDULER || key === 'trained_betas' || key in IGNORED_SCHEDULER_KEYS,
    ).toBe(true);
  const write = (extra: object) => {
    const f = path.join(dir, `s${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(sd, 'utf8')), ...extra }));
    return f;
  };
  expect(readDiffusersScheduler(write({ variance_type: 'fixed_small', thresholding: false })).beta_end).toBe(0.012);
  expect(readDiffusersScheduler(write({ timestep_spacing: 'trailing' })).timestep_spacing).toBe('trailing');
  expect(() => readDiffusersScheduler(write({ thresholding: true }))).toThrow(/"thresholding" = true is not supported/);
  expect(() => readDiffusersScheduler(write({ trained_betas: [0.1, 0.2] }))).toThrow(/"trained_betas"/);
  expect(() => readDiffusersScheduler(write({ karras: 1 }))).toThrow(
    /"karras" is not a scheduler config key this toolkit knows; refusing to ignore it/,
  );
});
