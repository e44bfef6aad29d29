import { runCli } from './helpers';

describe('cxrl-native CLI', () => {
  test('--help lists every command', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    for (const cmd of ['train', 'generate', 'eval', 'data', 'reward', 'info', 'unet'])
      expect(r.stdout).toMatch(new RegExp(`cxrl-native ${cmd}\\b`));
  });

  test('info --json reports version, backends, CUDA state with a reason, GEMM and threads', () => {
    const r = runCli(['info', '--json']);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.backends).toContain('cpu');
    expect(typeof info.cuda.usable).toBe('boolean');
    if (!info.cuda.usable) expect(info.cuda.reason.length).toBeGreaterThan(10);
    expect(['openblas', 'builtin']).toContain(info.gemm);
    expect(info.threads).toBeGreaterThan(0);
  });

  test('CXRL_GEMM=builtin selects the built-in GEMM; CXRL_NUM_THREADS sets threads', () => {
    const info = JSON.parse(runCli(['info', '--json'], { CXRL_GEMM: 'builtin', CXRL_NUM_THREADS: '1' }).stdout);
    expect(info.gemm).toBe('builtin');
    expect(info.threads).toBe(1);
  });

  test('eval without --models names the missing option', () => {
    const r = runCli(['eval', '--fid']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Missing required arguments?: models, out/);
  });

  test('an unknown command is an error with a hint', () => {
    const r = runCli(['trian']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Did you mean train|Unknown/);
  });
});
