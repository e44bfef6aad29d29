/**
 * The package as a user installs it: `npm pack`, then the tarball installed into an empty project
 * (its install script builds the engine with cmake-js, never npm's implicit node-gyp rebuild), then
 * `require('cxrl-native')` and `npx cxrl-native info` work and report the engine that was built.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tmpDir } from './helpers';

jest.setTimeout(1200000);

let dir: string;
afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

test('npm pack -> install into an empty project -> require and npx cxrl-native info', () => {
  dir = tmpDir('package');
  const env = {
    ...process.env,
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  const tarball = execFileSync('npm', ['pack', '--pack-destination', dir, '--silent'], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .pop()!;
  const project = path.join(dir, 'user');
  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'user', version: '1.0.0', private: true }),
  );
  execFileSync('npm', ['install', '--prefer-offline', path.join(dir, tarball)], {
    cwd: project,
    env,
    stdio: 'inherit',
  });
  const required = execFileSync(
    process.execPath,
    ['-e', "const c = require('cxrl-native'); console.log(typeof c.loadAddon, c.loadAddon().info().gemm)"],
    { cwd: project, encoding: 'utf8' },
  ).trim();
  expect(required).toBe('function openblas');
  const info = JSON.parse(
    execFileSync('npx', ['--no-install', 'cxrl-native', 'info', '--json'], { cwd: project, env, encoding: 'utf8' }),
  );
  console.log(`installed package: GEMM ${info.gemm}, backends ${info.backends.join('+')}`);
  expect(info.gemm).toBe('openblas');
  expect(info.backends).toContain('cpu');
  // The checkout's own engine was not touched by any of this.
  const own = JSON.parse(
    execFileSync(process.execPath, [path.join(ROOT, 'bin', 'cxrl-native'), 'info', '--json'], { encoding: 'utf8' }),
  );
  expect(own.gemm).toBe('openblas');
});
