/**
 * Outputs are never replaced by accident: `generate` refuses a non-empty --out unless --overwrite or
 * --resume (which keeps the images made with the same settings, byte for byte), and `reward fit`
 * refuses an existing model unless --overwrite.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CliFixture, makeCliFixture } from './fixtures';
import { runCli } from './helpers';

jest.setTimeout(600000);

let work: string, data: string, init: string, env: CliFixture['env'], ok: CliFixture['ok'];

beforeAll(() => {
  ({ work, data, init, env, ok } = makeCliFixture('outputs', { studies: 30, rewards: false }));
});

test('generate: refuses a non-empty --out; --resume keeps matching images and makes the rest; --overwrite replaces', () => {
  const out = path.join(work, 'gen');
  const gen = (...extra: string[]) => [
    'generate',
    '--checkpoint',
    init,
    '--prompt',
    'Small left effusion.',
    '--prompt',
    'No acute process.',
    '--n',
    '2',
    '--steps',
    '2',
    '--batch-size',
    '2',
    '--out',
    out,
    ...extra,
  ];
  ok(gen());
  const first = fs.readFileSync(path.join(out, '0-0.png'));
  const again = runCli(gen(), env());
  expect(again.status).toBe(2);
  expect(again.stderr.trim()).toMatch(/is not empty: add --resume to continue it, --overwrite to replace it/);
  expect(fs.readFileSync(path.join(out, '0-0.png')).equals(first)).toBe(true);
  // Remove the second batch's images: --resume remakes exactly them, identical to the first run's.
  const second = fs.readFileSync(path.join(out, '1-0.png'));
  fs.rmSync(path.join(out, '1-0.png'));
  const resumed = ok(gen('--resume'));
  expect(resumed.stderr).toMatch(/1 of 2 batches already in .* with the same settings; kept/);
  expect(fs.readFileSync(path.join(out, '1-0.png')).equals(second)).toBe(true);
  ok(gen('--overwrite', '--seed', '5'));
  expect(fs.readFileSync(path.join(out, '0-0.png')).equals(first)).toBe(false);
  expect(runCli(gen('--overwrite', '--resume'), env()).stderr).toMatch(/not both/);
});

test('reward fit: refuses an existing model unless --overwrite', () => {
  const model = path.join(work, 'posture.onnx');
  const fit = (...extra: string[]) => [
    'reward',
    'fit',
    '--kind',
    'posture',
    '--data',
    data,
    '--out',
    model,
    '--steps',
    '2',
    '--image-size',
    '16',
    '--batch-size',
    '4',
    ...extra,
  ];
  ok(fit());
  const before = fs.readFileSync(model);
  const r = runCli(fit(), env());
  expect(r.status).toBe(2);
  expect(r.stderr.trim()).toMatch(/posture.onnx already exists: add --overwrite to replace it/);
  expect(fs.readFileSync(model).equals(before)).toBe(true);
  ok(fit('--overwrite', '--seed', '3'));
  expect(fs.readFileSync(model).equals(before)).toBe(false);
});
